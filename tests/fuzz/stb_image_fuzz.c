/* stb_image_fuzz.c — stb_image's implementation compiled into fuzz_image, so the decoder is
 * instrumented for coverage and ASan (Debian's libstb.so is not: linked alone, the fuzzer would
 * be blind inside stb). The executable's definitions take precedence over libstb.so's for every
 * stbi_* call image_io.c makes. Same header and version as libstb (libstb-dev, v2.27).
 * UBSan is off for this file only (tests/fuzz/meson.build): stb's decoders shift negative values
 * on purpose; memory errors in stb still abort. NDEBUG is set for this file too: on the 480-byte
 * JPEG tests/fuzz/known/stb_jpeg_huff_decode_assert.jpg, stb v2.27 reads heap memory it never
 * wrote, and with ASan's malloc fill (0xbe) that reaches the assert in stbi__jpeg_huff_decode
 * (stb_image.h:2115). With Debian's libstb.so and glibc malloc the same file fails cleanly, its
 * error depending on the heap (MALLOC_PERTURB_=190 turns "bad png sig" into "bad huffman code"):
 * the assert hid what ASan then found: a heap use-after-free in stbi__jpeg_huff_decode
 * (the unit it was found on: tests/fuzz/known/stb_jpeg_huff_decode_use_after_free.jpg, which
 * alone does not reproduce it: it depends on heap contents left by earlier inputs; it reads the
 * block stbi_info's
 * JPEG pass freed), which is why the CI test replays the image seeds without fuzzing.
 */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
