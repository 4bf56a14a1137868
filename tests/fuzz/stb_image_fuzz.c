/* stb_image_fuzz.c — stb_image's implementation compiled into fuzz_image, so the decoder is
 * instrumented for coverage and ASan (Debian's libstb.so is not: linked alone, the fuzzer would
 * be blind inside stb). The executable's definitions take precedence over libstb.so's for every
 * stbi_* call image_io.c makes. Same header and version as libstb (libstb-dev, v2.27).
 * UBSan is off for this file only (tests/fuzz/meson.build): stb's decoders shift negative values
 * on purpose; memory errors in stb still abort.
 */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
