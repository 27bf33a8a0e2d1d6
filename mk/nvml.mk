# The NVML helper of the static agents (see src/nvml-helper.c).
