// OpenBLAS (libopenblas-dev): GEMM for the Featurizer's convolutions.
#include <cblas.h>
