#include <zlib.h>

/* zlib's init functions are macros that pass the library version and the
   stream size; Swift does not import macros, so wrap them. */
static inline int czlib_deflate_init(z_streamp strm, int level) {
    return deflateInit(strm, level);
}

static inline int czlib_inflate_init(z_streamp strm) {
    return inflateInit(strm);
}
