/* tcase.h: the case protocol every C test in this folder speaks.
 *
 * A test program is run twice by the harness, once on the kernel and once
 * under the shim, and the two outputs are compared case by case. So every
 * case prints exactly one line on stdout:
 *
 *     <case-name>: <result>
 *
 * and the result must be deterministic: print errno names and facts
 * ("ok", "-1 ECONNREFUSED", "= 5", "yes"), never fd numbers, ephemeral
 * ports, pids or timings. Only the main process prints; children report to
 * it through pipes or exit statuses. A program exits 0 when it ran to its
 * end; a non-zero exit is a failure in both worlds.
 */
#ifndef TCASE_H
#define TCASE_H
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tc_cases;

static inline void tc_init(void) { setvbuf(stdout, NULL, _IONBF, 0); }

static inline const char *tc_errname(int e) {
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

/* A case name built from a format ("%s/bind-twice", kind); four results
 * can be live at once. */
static inline const char *tc_name(const char *fmt, ...) {
    static char bufs[4][256];
    static int i;
    char *b = bufs[i++ & 3];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

/* Prints "<name>: <free text>". */
static inline void tc_printf(const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    tc_cases++;
}

static inline long tc_report_sys(const char *name, long r, int e) {
    if (r < 0) tc_printf(name, "-1 %s", tc_errname(e));
    else tc_printf(name, "ok");
    return r;
}

static inline long tc_report_val(const char *name, long r, int e) {
    if (r < 0) tc_printf(name, "-1 %s", tc_errname(e));
    else tc_printf(name, "= %ld", r);
    return r;
}

/* TC_SYS: a call whose success value is not comparable (an fd): "ok" or "-1 ENAME". */
#define TC_SYS(name, expr) \
    ({ errno = 0; long tc_r_ = (long)(expr); tc_report_sys((name), tc_r_, errno); })
/* TC_VAL: a call whose value is comparable (a byte count): "= N" or "-1 ENAME". */
#define TC_VAL(name, expr) \
    ({ errno = 0; long tc_r_ = (long)(expr); tc_report_val((name), tc_r_, errno); })
/* TC_FACT: a boolean fact: "yes" or "no". */
#define TC_FACT(name, cond) \
    ({ int tc_c_ = !!(cond); tc_printf((name), tc_c_ ? "yes" : "no"); tc_c_; })

/* tc_die: the test cannot go on (a set-up step failed); exits non-zero. */
#define tc_die(what) \
    do { fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, (what), strerror(errno)); exit(2); } while (0)

static inline int tc_done(void) {
    fprintf(stderr, "%d cases\n", tc_cases);
    return 0;
}
#endif
