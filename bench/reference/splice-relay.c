/*
 * A reference relay in C for the benchmarks: the least any program can do to forward a TCP stream on Linux.
 * splice-relay TARGET_PORT listens on 127.0.0.1 port 0, prints {"port": N} on stdout, and joins every
 * accepted connection to 127.0.0.1:TARGET_PORT with one thread per direction moving bytes with splice(2)
 * through a pipe (no copy to user space). Used by bench/scenarios/{http,socks}.ts when a C compiler is
 * installed, to show the ceiling of a relay on this machine. Exits when stdin closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct dir { int from, to; int *left; pthread_mutex_t *mu; };

static void *pump(void *arg) {
  struct dir *d = arg;
  int p[2];
  if (pipe(p) == 0) {
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    for (;;) {
      ssize_t n = splice(d->from, NULL, p[1], NULL, 1 << 20, SPLICE_F_MOVE);
      if (n <= 0) break;
      while (n > 0) {
        ssize_t w = splice(p[0], NULL, d->to, NULL, n, SPLICE_F_MOVE);
        if (w <= 0) { n = -1; break; }
        n -= w;
      }
      if (n < 0) break;
    }
    close(p[0]);
    close(p[1]);
  }
  shutdown(d->to, SHUT_WR);
  pthread_mutex_lock(d->mu);
  int last = --*d->left == 0;
  pthread_mutex_unlock(d->mu);
  if (last) { close(d->from); close(d->to); free(d->left); free(d->mu); }
  free(d);
  return NULL;
}

static void *watch_stdin(void *arg) {
  char b[64];
  (void)arg;
  while (read(0, b, sizeof b) > 0) {}
  exit(0);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int target_port = atoi(argv[1]), one = 1;
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4096)) return 1;
  socklen_t len = sizeof a;
  getsockname(ls, (struct sockaddr *)&a, &len);
  printf("{\"port\": %d}\n", ntohs(a.sin_port));
  fflush(stdout);
  pthread_t t;
  pthread_create(&t, NULL, watch_stdin, NULL);
  for (;;) {
    int c = accept(ls, NULL, NULL);
    if (c < 0) continue;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in ta = { .sin_family = AF_INET, .sin_port = htons(target_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(s, (struct sockaddr *)&ta, sizeof ta)) { close(c); close(s); continue; }
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int *left = malloc(sizeof *left);
    pthread_mutex_t *mu = malloc(sizeof *mu);
    *left = 2;
    pthread_mutex_init(mu, NULL);
    struct dir *up = malloc(sizeof *up), *down = malloc(sizeof *down);
    *up = (struct dir){ c, s, left, mu };
    *down = (struct dir){ s, c, left, mu };
    pthread_create(&t, NULL, pump, up);
    pthread_detach(t);
    pthread_create(&t, NULL, pump, down);
    pthread_detach(t);
  }
}
