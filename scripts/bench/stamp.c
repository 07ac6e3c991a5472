/* The app of the init benchmark: prints CLOCK_MONOTONIC at its start (ns), the clock Node's
 * process.hrtime uses, so the parent measures spawn-to-app-start exactly; then ru_maxrss (KiB).
 * Linux carries the peak RSS of the image that exec'd this program into it (exec keeps the larger
 * of the old memory's high-water mark and the process's), and this static program's own is far
 * smaller, so that is the init program's peak RSS before exec. Static, no libc needed at run time. */
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

int main(void) {
  struct timespec ts;
  struct rusage ru;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  getrusage(RUSAGE_SELF, &ru);
  printf("%lld %ld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, ru.ru_maxrss);
  return 0;
}
