/* progcache.h — an on-disk cache of compiled OpenCL program binaries, private to the device
 * layer (kernels.c stores and loads; nothing above the device layer sees it).
 *
 * An entry is a file <dir>/<name>-<16 hex digits>.clbin named by a 64-bit FNV-1a hash of its
 * key; the key itself (a text naming the source's length and hash, the build options, the
 * device, driver, OpenCL version and platform, STYLE.md "OpenCL") is stored in the entry and
 * compared in full on every load, so a hash collision is a miss, never a wrong binary. Layout,
 * all integers little-endian:
 *   offset 0   8 bytes  magic "KRPCBIN1"
 *          8   4 bytes  key length K
 *         12   K bytes  key
 *       12+K   8 bytes  binary length B
 *       20+K   4 bytes  CRC-32 (zlib) of the binary
 *       24+K   B bytes  binary; nothing after it
 * Writers write a temporary file in the same folder and rename(2) it over the entry, so a
 * reader sees a whole old entry, a whole new one or none, and concurrent writers of one key
 * leave one whole entry (the last rename wins; both wrote the same key). A damaged, truncated
 * or foreign entry is a miss (logged at debug level) and is replaced by the next store.
 *
 * Folder: $KKTRECON_CACHE_DIR if set (empty or "off": no cache), else $XDG_CACHE_HOME/kktrecon,
 * else $HOME/.cache/kktrecon; created (0700) on the first store. The cache only ever saves
 * time: no failure here is an error of the caller (a store that cannot write is skipped).
 */
#ifndef KR_PROGCACHE_H
#define KR_PROGCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FNV-1a, 64 bits, of n bytes (continuing from h; start with KR_FNV64_OFFSET). */
#define KR_FNV64_OFFSET 0xcbf29ce484222325ULL
uint64_t kr_progcache_fnv64(uint64_t h, const void *data, size_t n);

/* The cache folder into buf ("" and false when the cache is off or no folder is known). */
bool kr_progcache_dir(char *buf, size_t cap);

/* The entry's path for (name, key) into buf; false when the cache is off. */
bool kr_progcache_path(const char *name, const char *key, char *buf, size_t cap);

/* Loads the binary stored for (name, key): true with a malloc'ed *bin of *len bytes on a hit;
 * false on a miss (no entry, cache off, damaged or foreign entry, out of memory). */
bool kr_progcache_load(const char *name, const char *key, unsigned char **bin, size_t *len);

/* Stores bin for (name, key), atomically replacing any entry; true if the entry was written. */
bool kr_progcache_store(const char *name, const char *key, const unsigned char *bin, size_t len);

#endif
