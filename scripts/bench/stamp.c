/* The app of the init benchmark: prints CLOCK_MONOTONIC at its start (ns), the clock Node's
 * process.hrtime uses, so the parent measures spawn-to-app-start exactly; then ru_maxrss (KiB) and
 * the CPU time (user + system, µs) the process has used so far.
 * Linux carries the peak RSS of the image that exec'd this program into it (exec keeps the larger
 * of the old memory's high-water mark and the process's), and this static program's own is far
 * smaller, so that is the init program's peak RSS before exec. CPU time survives execve the same
 * way (the threads the exec ended included), and this program has used next to none: that is the
 * init program's CPU time, a number a busy machine inflates far less than the wall clock.
 * Static, no libc needed at run time. */
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>

int main(void) {
  struct timespec ts;
  struct rusage ru;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  getrusage(RUSAGE_SELF, &ru);
  long long cpu = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
                  ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
  printf("%lld %ld %lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, ru.ru_maxrss, cpu);
  return 0;
}
