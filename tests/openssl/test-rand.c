/*
 * test-rand.c - an OpenSSL program for test_openssl.py: it draws from
 * OpenSSL's public and private DRBGs (seeded by whatever $OPENSSL_CONF says)
 * and prints what the PREEMPTD seed source reports through get_ctx_params.
 *
 *   test-rand bytes   RAND_bytes and RAND_priv_bytes, 32 bytes each
 *   test-rand fork    RAND_bytes, fork, RAND_bytes in parent and child
 *   test-rand again   RAND_bytes; after a line on stdin, a fresh primary
 *                     seed (as its reseed interval would) and RAND_bytes
 *   test-rand reseed  RAND_bytes, then three fresh primary seeds
 *
 * Output: "<what> <hex>" lines, "status <who> key=value ..." lines, and
 * "syslog N" at exit: how many lines the provider sent to syslog(3), which
 * this program defines (exported, so it takes the place of libc's for the
 * provider) to count them.
 * Exits 0 when every draw succeeded (and, for fork, the bytes differ;
 * for again, the second draw succeeded).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define N 32

static int syslog_lines;

/* Counts the provider's syslog lines and shows them on stdout. */
void syslog(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void syslog(int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("syslog-line %d ", prio);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    syslog_lines++;
}

static void hex(char *out, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* Writes the seed source's status as one line into line (cap bytes). The
 * status is the provider's, shared by every PREEMPTD context in the library
 * context, so a fresh context shows what the primary DRBG's seeds saw. */
static void status(char *line, size_t cap, const char *who)
{
    EVP_RAND *rand = EVP_RAND_fetch(NULL, "PREEMPTD", NULL);
    EVP_RAND_CTX *ctx = rand ? EVP_RAND_CTX_new(rand, NULL) : NULL;
    char source[32] = "", err[32] = "";
    uint64_t seeds = 0, os_only = 0, refused = 0, dbytes = 0;
    int strict = -1;
    unsigned strength = 0;
    OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string("source", source, sizeof(source)),
        OSSL_PARAM_utf8_string("last_error", err, sizeof(err)),
        OSSL_PARAM_uint64("seeds", &seeds),
        OSSL_PARAM_uint64("os_only_seeds", &os_only),
        OSSL_PARAM_uint64("refused_seeds", &refused),
        OSSL_PARAM_uint64("daemon_bytes", &dbytes),
        OSSL_PARAM_int("strict", &strict),
        OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, &strength),
        OSSL_PARAM_END,
    };
    if (!ctx || !EVP_RAND_CTX_get_params(ctx, p))
        snprintf(line, cap, "status %s unavailable\n", who);
    else
        snprintf(line, cap,
                 "status %s source=%s last_error=%s seeds=%" PRIu64
                 " os_only=%" PRIu64 " refused=%" PRIu64
                 " daemon_bytes=%" PRIu64 " strict=%d strength=%u\n",
                 who, source, *err ? err : "-", seeds, os_only, refused,
                 dbytes, strict, strength);
    EVP_RAND_CTX_free(ctx);
    EVP_RAND_free(rand);
}

static int draw(const char *what, int priv, char *line, size_t cap)
{
    unsigned char b[N];
    char h[2 * N + 1];
    if ((priv ? RAND_priv_bytes(b, N) : RAND_bytes(b, N)) != 1) {
        snprintf(line, cap, "%s FAILED\n", what);
        return -1;
    }
    hex(h, b, N);
    snprintf(line, cap, "%s %s\n", what, h);
    return 0;
}

static int bytes(void)
{
    char line[256];
    int rc = draw("public", 0, line, sizeof(line));
    fputs(line, stdout);
    rc |= draw("private", 1, line, sizeof(line));
    fputs(line, stdout);
    status(line, sizeof(line), "self");
    fputs(line, stdout);
    return rc;
}

/* The child reports through a pipe so that parent and child lines do not
 * interleave on stdout. */
static int forked(void)
{
    char line[256], child[1024] = "";
    int fd[2];
    if (draw("before", 0, line, sizeof(line)) != 0 || pipe(fd) != 0) {
        fputs(line, stdout);
        return -1;
    }
    fputs(line, stdout);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fd[0]);
        int rc = draw("child", 0, line, sizeof(line));
        size_t n = strlen(line);
        status(line + n, sizeof(line) - n, "child");
        if (write(fd[1], line, strlen(line)) < 0)
            rc = -1;
        _exit(rc ? 1 : 0);
    }
    close(fd[1]);
    char mine[256];
    int rc = draw("parent", 0, mine, sizeof(mine));
    fputs(mine, stdout);
    ssize_t k, got = 0;
    while ((k = read(fd[0], child + got, sizeof(child) - 1 - (size_t)got)) > 0)
        got += k;
    child[got] = '\0';
    close(fd[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
        rc = -1;
    fputs(child, stdout);
    status(line, sizeof(line), "parent");
    fputs(line, stdout);
    /* "parent <hex>" and "child <hex>": the hex must differ. */
    if (rc == 0 && strncmp(mine + 7, child + 6, 2 * N) == 0) {
        puts("parent and child drew the same bytes");
        rc = -1;
    }
    return rc;
}

static int again(void)
{
    char line[256], go[8];
    draw("first", 0, line, sizeof(line));
    fputs(line, stdout);
    status(line, sizeof(line), "first");
    fputs(line, stdout);
    fflush(stdout);
    ERR_clear_error();
    if (!fgets(go, sizeof(go), stdin))
        return -1;
    /* A primary DRBG that exists reseeds; one that failed to instantiate
     * (strict, daemon away) is created again by RAND_get0_primary. */
    EVP_RAND_CTX *primary = RAND_get0_primary(NULL);
    if (!primary || !EVP_RAND_reseed(primary, 0, NULL, 0, NULL, 0))
        return -1;
    int rc = draw("second", 0, line, sizeof(line));
    fputs(line, stdout);
    status(line, sizeof(line), "second");
    fputs(line, stdout);
    return rc;
}

/* Fresh primary seeds, as a long-lived process sees at its reseed
 * interval: each one is drawn from the provider. */
static int reseed(void)
{
    char line[256];
    int rc = draw("first", 0, line, sizeof(line));
    fputs(line, stdout);
    for (int i = 0; i < 3 && rc == 0; i++) {
        EVP_RAND_CTX *primary = RAND_get0_primary(NULL);
        if (!primary || !EVP_RAND_reseed(primary, 0, NULL, 0, NULL, 0))
            rc = -1;
    }
    status(line, sizeof(line), "self");
    fputs(line, stdout);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = -1;
    if (argc == 2 && strcmp(argv[1], "bytes") == 0)
        rc = bytes();
    else if (argc == 2 && strcmp(argv[1], "fork") == 0)
        rc = forked();
    else if (argc == 2 && strcmp(argv[1], "again") == 0)
        rc = again();
    else if (argc == 2 && strcmp(argv[1], "reseed") == 0)
        rc = reseed();
    else
        fprintf(stderr, "usage: test-rand bytes|fork|again|reseed\n");
    if (rc)
        ERR_print_errors_fp(stderr);
    printf("syslog %d\n", syslog_lines);
    fflush(stdout);
    return rc ? 1 : 0;
}
