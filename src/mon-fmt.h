/*
 * mon-fmt.h - figures of a sample as people and scripts read them: short
 * human units for `status` and `top`, and the JSON of `status --json`.
 * Unknown figures print as "-" (text) or null (JSON), never as 0.
 */
#ifndef FERRY_MON_FMT_H
#define FERRY_MON_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mon.h"

/* "512B" "3.1K" "20.5G" (powers of 1024); "-" for MON_NA64. */
const char *fmt_bytes(uint64_t v, char *b, size_t n);
/* Percent x100 as "12.3%" (or "12%" when wide >= 100%); "-" for MON_NA. */
const char *fmt_pct(uint32_t v, char *b, size_t n);
/* "3d4h" "5h12m" "7m"; "-" for MON_NA64. */
const char *fmt_uptime(uint64_t secs, char *b, size_t n);
/* The user name for uid (control characters visible), or the number. */
const char *fmt_user(const struct mon_sample *s, uint32_t uid, char *b, size_t n);

/* A job as people name it: "7 (quick)", or "7" without a name; control
 * characters visible.  Into b, which it returns. */
const char *fmt_job(const struct mon_job *j, char *b, size_t n);
/* A process as ps shows it: its command line, else its name (comm);
 * control characters visible.  Caller frees. */
char *fmt_proc_command(const struct mon_proc *p);

/* The sample as one JSON object; extra (may be NULL) is inserted as more
 * members, e.g. "\"sync\":{...}". */
void mon_json(FILE *f, const struct mon_sample *s, const char *extra);

#endif
