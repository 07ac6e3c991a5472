/*
 * The pod sandbox's process for the local node (the "pause" container): PID 1 of the pod's
 * namespaces. It waits for SIGTERM or SIGINT, then exits 0, and reaps any child reparented to it.
 * Built static (pause.sh) and shipped in an image holding only this binary.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_stop(int sig) {
  (void)sig;
  stop = 1;
}

static void on_child(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

int main(int argc, char **argv) {
  if (argc > 1 && argv[1][0] == '-' && argv[1][1] == 'v') {
    puts("vault-inject pause");
    return 0;
  }
  struct sigaction term = {.sa_handler = on_stop};
  struct sigaction chld = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
  sigemptyset(&term.sa_mask);
  sigemptyset(&chld.sa_mask);
  if (sigaction(SIGINT, &term, NULL) < 0 || sigaction(SIGTERM, &term, NULL) < 0 ||
      sigaction(SIGCHLD, &chld, NULL) < 0) {
    perror("pause: sigaction");
    return 1;
  }
  if (getpid() != 1) fputs("pause: warning: not running as PID 1\n", stderr);
  while (!stop) pause();
  return 0;
}
