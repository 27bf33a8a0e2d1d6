/*
 * fwd-url.h - the http(s) URLs a job prints for its servers (Jupyter's
 * `?token=`, TensorBoard, http.server, Gradio, Streamlit), found in log
 * text, and rewritten to point at the laptop's end of a forward.
 *
 * Pure functions over bytes: the text is untrusted (a job writes what it
 * likes), every scan is bounded and linear in its length.
 */
#ifndef FERRY_FWD_URL_H
#define FERRY_FWD_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fwd_url {
	size_t off, len;	/* where it is in the text */
	uint16_t port;		/* its explicit port */
};

/* Finds up to max URLs "http://HOST:PORT/..." or "https://..." in p[0..n):
 * HOST a name, an IPv4, or [IPv6]; an explicit PORT (1-65535) is required
 * (no port: skipped).  The URL ends at whitespace, a control character
 * (the ESC of ANSI colour codes included), a byte >= 0x80, '"', '\'', '<',
 * '>', '`', and a trailing '.', ',', ')', ']' is not part of it.  URLs
 * longer than FWD_URL_MAX are skipped.  Returns how many were found. */
size_t fwd_url_find(const char *p, size_t n, struct fwd_url *out, size_t max);

/* Whether byte c ends a URL (the set above, trailing punctuation aside):
 * a URL never spans one, so a reader of a stream needs to carry over only
 * the bytes after the last such byte. */
bool fwd_url_stop(unsigned char c);

/* The URL with its authority replaced by host:port (host NULL: "127.0.0.1";
 * an IPv6 address gets its brackets), scheme, path, query and fragment kept
 * byte for byte; NULL if url[0..len) is not exactly one URL that
 * fwd_url_find accepts.  The caller frees. */
char *fwd_url_local(const char *url, size_t len, const char *host, uint16_t port);

#endif
