/*
 * job-snap.h - the code a job runs: a snapshot of the pushed tree
 * (job-snap.c).
 */
#ifndef FERRY_JOB_SNAP_H
#define FERRY_JOB_SNAP_H

#include <stddef.h>

#include "sync-index.h"

#define SNAP_ID_BYTES 8		/* hex digits: twice this */

/* The id of the code an index describes (paths, types, modes, hashes). */
char *snapshot_tree_id(const struct index *ix);
/* Makes, or reuses, the snapshot of the tree ix describes under root, and
 * links the live-only names through.  0 with *dir (absolute) and *id
 * (caller frees), or -errno with *why. */
int snapshot_get(const char *root, const struct index *ix, char **dir, char **id, char **why);
/* Removes the snapshots under root that no id in keep names.  Returns how
 * many went. */
int snapshot_prune(const char *root, char *const *keep, size_t nkeep);

#endif
