/* One entry point per target: LLVMFuzzerTestOneInput under libFuzzer, fuzz_<name> when the
 * targets are linked together into the corpus replay program (make test). */
#ifndef DC_FUZZ_H
#define DC_FUZZ_H
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#ifdef DC_REPLAY_MAIN
#define FUZZ_ENTRY(name) int fuzz_##name(const uint8_t *data, size_t size)
#else
#define FUZZ_ENTRY(name) int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif
#endif
