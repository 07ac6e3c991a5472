/* The one program of the scratch test root: prints its PID and its environment, one per line. */
#include <stdio.h>
#include <unistd.h>

extern char **environ;

int main(void) {
  printf("PID=%d\n", (int)getpid());
  for (char **e = environ; *e; e++) printf("%s\n", *e);
  return 0;
}
