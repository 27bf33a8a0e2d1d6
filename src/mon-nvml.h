/*
 * mon-nvml.h - the part of NVML's C ABI ferry uses, written from the
 * documented types (Debian ships no nvml.h, and the library is loaded with
 * dlopen at run time, never linked).  The _Static_asserts pin the layouts
 * the driver's library expects.
 */
#ifndef FERRY_MON_NVML_H
#define FERRY_MON_NVML_H

#include <stddef.h>
#include <stdint.h>

#define NVML_LIBRARY		"libnvidia-ml.so.1"

typedef int nvml_return;
enum {
	NVML_OK = 0,
	NVML_E_UNINITIALIZED = 1,
	NVML_E_INVALID_ARGUMENT = 2,
	NVML_E_NOT_SUPPORTED = 3,
	NVML_E_INSUFFICIENT_SIZE = 7,
	NVML_E_DRIVER_NOT_LOADED = 9,
	NVML_E_GPU_IS_LOST = 15,
	NVML_E_LIB_RM_VERSION_MISMATCH = 18,
};
#define NVML_TEMP_GPU		0
#define NVML_NAME_LEN		96	/* device name buffer */
#define NVML_UUID_LEN		80
/* usedGpuMemory when the driver cannot tell (no permission, WDDM). */
#define NVML_VALUE_NA		(~0ull)

typedef struct nvml_device *nvml_device;

struct nvml_memory {
	unsigned long long total, free, used;	/* bytes */
};
struct nvml_utilization {
	unsigned int gpu, memory;		/* percent */
};
/* nvmlProcessInfo_t as nvmlDeviceGetComputeRunningProcesses_v3 (and _v2)
 * fill it. */
struct nvml_process {
	unsigned int pid;
	unsigned long long used_gpu_memory;
	unsigned int gpu_instance_id;
	unsigned int compute_instance_id;
};

_Static_assert(sizeof(struct nvml_memory) == 24, "nvmlMemory_t is 3 x u64");
_Static_assert(sizeof(struct nvml_utilization) == 8, "nvmlUtilization_t is 2 x uint");
_Static_assert(sizeof(struct nvml_process) == 24, "nvmlProcessInfo_t is 24 bytes");
_Static_assert(offsetof(struct nvml_process, used_gpu_memory) == 8, "usedGpuMemory at offset 8");

#endif
