/*
 * The one program of the node's scratch test image (test/env/node-images.ts): prints the value of
 * each variable named on its command line, one per line, like printenv; exits 1 when one is unset.
 * Compiled static with musl-gcc, so the image needs no libc and has no shell.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  int missing = 0;
  for (int i = 1; i < argc; i++) {
    const char *value = getenv(argv[i]);
    if (value == NULL) {
      missing = 1;
      continue;
    }
    puts(value);
  }
  return missing;
}
