/* Replays every corpus file of every target through the sanitizer build (make test): a crash,
 * leak or UB report aborts. Prints "replay: N passed, 0 failed". */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TARGETS(X) X(unpack) X(jwk) X(diddoc) X(did_peer) X(msg) X(b64url) X(rules) X(med)
#define DECL(n) int fuzz_##n(const uint8_t *data, size_t size);
TARGETS(DECL)

struct target {
	const char *name;
	int (*fn)(const uint8_t *, size_t);
};
#define ROW(n) { #n, fuzz_##n },
static const struct target targets[] = { TARGETS(ROW) };

int main(int argc, char **argv)
{
	const char *root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
	size_t total = 0, missing = 0;
	for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
		char dir[1024];
		snprintf(dir, sizeof dir, "%s/%s", root, targets[t].name);
		DIR *d = opendir(dir);
		if (!d) {
			fprintf(stderr, "replay: no corpus %s\n", dir);
			missing++;
			continue;
		}
		size_t n = 0;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[2048];
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			FILE *f = fopen(path, "rb");
			if (!f)
				continue;
			uint8_t *buf = malloc(4u << 20);
			size_t len = buf ? fread(buf, 1, 4u << 20, f) : 0;
			fclose(f);
			if (!buf)
				return 2;
			/* exact-size copy so that ASan sees reads past the end */
			uint8_t *exact = malloc(len ? len : 1);
			memcpy(exact, buf, len);
			free(buf);
			targets[t].fn(exact, len);
			free(exact);
			n++;
		}
		closedir(d);
		printf("replay %-9s %zu inputs\n", targets[t].name, n);
		total += n;
	}
	printf("replay: %zu passed, %zu failed\n", total, missing);
	return missing ? 1 : 0;
}
