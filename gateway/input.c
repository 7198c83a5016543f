/* Reading a command's input: a file or stdin, bounded (see gateway.h). */
#include "gateway.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

dc_err gw_read_input(const char *path, size_t max, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	FILE *f = (!path || strcmp(path, "-") == 0) ? stdin : fopen(path, "rb");
	if (!f)
		return DC_ERR_IO;
	size_t cap = 64 * 1024, n = 0;
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		cap = (size_t)st.st_size < max ? (size_t)st.st_size + 1 : max + 1; /* one allocation */
	char *b = malloc(cap + 1);
	dc_err rc = DC_OK;
	while (b) {
		size_t r = fread(b + n, 1, cap - n, f);
		n += r;
		if (n > max) {
			rc = DC_ERR_TOO_BIG;
			break;
		}
		if (r == 0) {
			if (ferror(f))
				rc = DC_ERR_IO;
			break;
		}
		if (n == cap) {
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			if (ncap <= cap)
				ncap = cap + 1;
			char *nb = realloc(b, ncap + 1);
			if (!nb) {
				rc = DC_ERR_NOMEM;
				break;
			}
			b = nb;
			cap = ncap;
		}
	}
	if (f != stdin)
		fclose(f);
	if (!b)
		return DC_ERR_NOMEM;
	if (rc) {
		free(b);
		return rc;
	}
	b[n] = 0;
	*out = b;
	*len = n;
	return DC_OK;
}
