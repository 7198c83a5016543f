/* Small file helpers (the keystore). */
#include "internal.h"

#include <errno.h>
#include <unistd.h>

int dc__write_all(int fd, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, b + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		if (w == 0)
			return EIO;
		off += (size_t)w;
	}
	return 0;
}
