#ifndef LOUPE_FAISS_H
#define LOUPE_FAISS_H

/* The part of FAISS Loupe uses, behind a plain C header. Debian's libfaiss-dev ships the
   headers of FAISS's own C API but not its compiled objects, so this shim is that API's
   narrow equivalent. Every index is an inner-product index (exact, or HNSW over flat storage)
   of float16 vectors with 64-bit ids. Functions that can fail return 0 on success and set *error to a malloc'ed
   message (free it with loupe_faiss_free_error). */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loupe_faiss_index loupe_faiss_index;

/* hnsw_neighbors 0: exact search over all vectors; else HNSW with that many links per node. */
loupe_faiss_index *loupe_faiss_new(int dimension, int hnsw_neighbors, int ef_construction, char **error);
loupe_faiss_index *loupe_faiss_read(const char *path, char **error);
int loupe_faiss_write(const loupe_faiss_index *index, const char *path, char **error);
void loupe_faiss_free(loupe_faiss_index *index);
void loupe_faiss_free_error(char *error);

int loupe_faiss_dimension(const loupe_faiss_index *index);
/* 0 for exact search, else the HNSW links per node. */
int loupe_faiss_hnsw_neighbors(const loupe_faiss_index *index);
int64_t loupe_faiss_count(const loupe_faiss_index *index);

int loupe_faiss_add(loupe_faiss_index *index, int64_t count, const float *vectors, const int64_t *ids, char **error);
/* The id of every stored vector, in storage order (count entries). */
void loupe_faiss_ids(const loupe_faiss_index *index, int64_t *ids);
/* Copies stored vectors [first, first + count) in storage order. */
int loupe_faiss_vectors(const loupe_faiss_index *index, int64_t first, int64_t count, float *out, char **error);

/* The k best inner products with one query; missing results have id -1. ef_search applies to
   HNSW (at least k is used; it is set on the index: calls must not overlap). */
int loupe_faiss_search(const loupe_faiss_index *index, const float *query, int64_t k, int ef_search,
                       float *scores, int64_t *ids, char **error);
/* Exact inner products of one query with the vectors at the given storage positions. */
int loupe_faiss_score_positions(const loupe_faiss_index *index, const float *query, const int64_t *positions,
                                int64_t count, float *scores, char **error);

#ifdef __cplusplus
}
#endif

#endif
