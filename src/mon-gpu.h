/*
 * mon-gpu.h - GPU figures: NVML loaded with dlopen at run time, else
 * `nvidia-smi --query-*` in CSV, else no GPUs.
 *
 * The choice is made once, at gpusrc_init(): NVML if libnvidia-ml.so.1
 * loads and initialises, nvidia-smi if it is on PATH, otherwise none
 * (with a one-line note saying why, empty when there is simply no NVIDIA
 * driver).  An unknown figure ([N/A], [Not Supported], an NVML call that
 * fails) is MON_NA / MON_NA64, never 0.
 */
#ifndef FERRY_MON_GPU_H
#define FERRY_MON_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "mon.h"

struct gpusrc;

/* Never fails: a source that cannot be used becomes MON_GPU_NONE. */
struct gpusrc *gpusrc_new(void);
void gpusrc_free(struct gpusrc *g);
enum mon_gpu_source gpusrc_kind(const struct gpusrc *g);
/* Why there are no GPU figures (or why a fallback is in use); "" if no
 * reason.  Valid until the next gpusrc_read. */
const char *gpusrc_note(const struct gpusrc *g);
/* The current GPUs, with processes (pid and memory; uid and job are
 * MON_NA / MON_NOJOB, for the caller to attribute).  The caller frees the
 * array with mon_gpus_free.  0, or -1 when the source failed this time
 * (*n = 0, note set). */
int gpusrc_read(struct gpusrc *g, struct mon_gpu **gpus, uint32_t *n);
void mon_gpus_free(struct mon_gpu *gpus, uint32_t n);

/* nvidia-smi --query-gpu=index,uuid,name,utilization.gpu,memory.used,
 * memory.total,temperature.gpu,power.draw --format=csv,noheader,nounits.
 * One GPU a line, at most MON_GPUS_MAX; lines that do not parse are
 * skipped.  0 (possibly no GPUs), -1 if some line was not a GPU line. */
int smi_parse_gpus(const char *p, size_t n, struct mon_gpu **gpus, uint32_t *ngpus);
/* --query-compute-apps=gpu_uuid,pid,used_memory: adds each process to the
 * GPU with that uuid.  Empty output means no process. */
int smi_parse_apps(const char *p, size_t n, struct mon_gpu *gpus, uint32_t ngpus);
/* What nvidia-smi's exit code means ("driver not loaded" for 9...). */
const char *smi_exit_reason(int code);

#endif
