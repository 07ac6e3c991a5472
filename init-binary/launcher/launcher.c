/*
 * bin/vault-inject-env: a tiny static launcher, so that the bundle runs in any image (scratch, no
 * libc, no shell), as any user, from a read-only mount, wherever the bundle is mounted.
 *
 * It execs the bundled glibc loader on the bundled Node.js with the bundled libraries:
 *   ROOT/runtime/lib/LOADER --argv0 vault-inject-env --library-path ROOT/runtime/lib
 *     ROOT/runtime/node ROOT/app/vault-inject-env.cjs ARGS...
 * where ROOT is the directory above the launcher's own (from /proc/self/exe, else argv[0], else
 * /vault-inject). Nothing of the image's own libc, loader or library path is used. LOADER is the
 * loader's name on the bundle's architecture: ld-linux-x86-64.so.2 (amd64, the default) or
 * ld-linux-aarch64.so.1 (arm64: scripts/bundle.sh --arch arm64 passes -DLOADER=...).
 *
 * Variables that would change how the loader, glibc or Node behave (LD_*, NODE_*, UV_*, OPENSSL_*,
 * SSL_CERT_*, GLIBC_TUNABLES, MALLOC_*) belong to the app: they are renamed to
 * VAULT_INJECT_HIDDEN_<NAME> here and restored by the program for the app before it execs it. The
 * app's own VAULT_INJECT_HIDDEN_* variables are renamed the same way (the prefix twice), so that
 * the restore gives them back under their names.
 *
 * Exit 70 with one line on stderr when the runtime cannot be started (docs/init-program.md).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HIDDEN_PREFIX "VAULT_INJECT_HIDDEN_"
#define DEFAULT_ROOT "/vault-inject"
#ifndef LOADER
#define LOADER "ld-linux-x86-64.so.2"
#endif

extern char **environ;

static void say(const char *a, const char *b, const char *c) {
  const char *parts[] = {"vault-inject-env: ", a, b, c, "\n"};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (parts[i] && write(2, parts[i], strlen(parts[i])) < 0) return;
  }
}

static int hidden(const char *entry) {
  /* GLIBC_TUNABLES and MALLOC_* tune the bundled glibc (and so our Node) as much as the app's. */
  static const char *prefixes[] = {"LD_",       "NODE_",           "UV_",     "OPENSSL_",
                                   "SSL_CERT_", "GLIBC_TUNABLES=", "MALLOC_", HIDDEN_PREFIX};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    if (strncmp(entry, prefixes[i], strlen(prefixes[i])) == 0) return 1;
  }
  return 0;
}

static char *join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 1);
  if (!s) {
    say("out of memory", 0, 0);
    _exit(70);
  }
  memcpy(s, a, la);
  memcpy(s + la, b, lb + 1);
  return s;
}

/* Cuts the last two path components: /x/bin/vault-inject-env -> /x. Returns 0 when it cannot. */
static int parent_of_bin(char *path) {
  for (int i = 0; i < 2; i++) {
    char *slash = strrchr(path, '/');
    if (!slash) return 0;
    *slash = '\0';
  }
  if (path[0] == '\0') strcpy(path, "/");
  return 1;
}

static char *bundle_root(const char *argv0) {
  static char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = '\0';
    if (parent_of_bin(buf)) return buf;
  }
  if (argv0 && strchr(argv0, '/') && strlen(argv0) < sizeof buf) {
    strcpy(buf, argv0);
    if (parent_of_bin(buf) && buf[0] != '\0') return buf;
  }
  return DEFAULT_ROOT;
}

int main(int argc, char **argv) {
  const char *root = bundle_root(argc > 0 ? argv[0] : 0);
  char *loader = join(root, "/runtime/lib/" LOADER);

  size_t envc = 0;
  while (environ[envc]) envc++;
  char **envp = calloc(envc + 1, sizeof *envp);
  char **args = calloc((size_t)argc + 8, sizeof *args);
  if (!envp || !args) {
    say("out of memory", 0, 0);
    return 70;
  }
  for (size_t i = 0; i < envc; i++) {
    envp[i] = hidden(environ[i]) ? join(HIDDEN_PREFIX, environ[i]) : environ[i];
  }

  int a = 0;
  args[a++] = loader;
  args[a++] = "--argv0";
  args[a++] = "vault-inject-env";
  args[a++] = "--library-path";
  args[a++] = join(root, "/runtime/lib");
  args[a++] = join(root, "/runtime/node");
  args[a++] = join(root, "/app/vault-inject-env.cjs");
  for (int i = 1; i < argc; i++) args[a++] = argv[i];
  args[a] = 0;

  execve(loader, args, envp);
  say("cannot start the bundled runtime ", loader, errno == ENOENT ? " (not found)" : " (exec failed)");
  return 70;
}
