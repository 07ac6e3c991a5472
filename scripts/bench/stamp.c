/* The app of the init benchmark: prints CLOCK_MONOTONIC at its start (ns), the clock Node's
 * process.hrtime uses, so the parent measures spawn-to-app-start exactly. Static, no libc needed. */
#include <stdio.h>
#include <time.h>

int main(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  printf("%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
  return 0;
}
