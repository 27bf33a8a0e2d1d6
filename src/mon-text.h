/*
 * mon-text.h - a text cursor over struct rd for the files the sampler
 * reads (/proc, nvidia-smi output): lines, words, decimal numbers.
 *
 * Same contract as the reader: bounded, with a sticky error.  A number
 * with no digits, one that overflows, or reading past the end fails the
 * cursor; callers read a line's fields, then check rd_ok() once, and a
 * line that fails is a missing metric, not an error of the whole file.
 */
#ifndef FERRY_MON_TEXT_H
#define FERRY_MON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The next byte, or -1 at the end (or after an error). */
int tx_peek(const struct rd *r);
bool tx_eof(const struct rd *r);
/* Skips spaces and tabs. */
void tx_skip_blank(struct rd *r);
/* The next line (without its '\n') as a reader of its own; the last line
 * needs no '\n'.  At the end: an empty, failed reader. */
struct rd tx_line(struct rd *r);
/* Consumes s if the input continues with it; true if it did. */
bool tx_lit(struct rd *r, const char *s);
/* Skips blanks, then a decimal u64 (at least one digit, no overflow). */
uint64_t tx_u64(struct rd *r);
/* Skips blanks, then a decimal with an optional fraction, as value x100
 * ("0.52" -> 52, "3" -> 300; digits past the second decimal are dropped). */
uint64_t tx_fixed100(struct rd *r);
/* Skips blanks, then a word up to a blank or the end (may be empty). */
const char *tx_word(struct rd *r, size_t *len);
/* Skips up to and including the byte c; fails if there is none. */
void tx_skip_past(struct rd *r, char c);
/* Skips n blank-separated words. */
void tx_skip_words(struct rd *r, int n);

#endif
