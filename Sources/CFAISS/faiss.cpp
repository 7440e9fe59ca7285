#include "loupe_faiss.h"

#include <faiss/IndexScalarQuantizer.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/index_io.h>
#include <faiss/utils/fp16.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <immintrin.h>
#include <limits>
#include <utility>
#include <vector>
#include <memory>

namespace {

using idx_t = faiss::Index::idx_t;
using faiss::ScalarQuantizer;

// Inner products of 1280-d vectors are nearly all the work of a search or an HNSW build, and at
// a million vectors a search is bound by memory: vectors are stored as float16 (as the archive
// stores embeddings), half the bytes of float32. Debian builds libfaiss for baseline x86-64 (no
// AVX, no F16C), several times slower than FAISS's own AVX2 kernels; these are chosen at run
// time when the CPU has AVX2, FMA and F16C.
__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const float *x) { return _mm256_loadu_ps(x); }
__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const uint16_t *x) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(x)));
}
inline float scalar(float x) { return x; }
inline float scalar(uint16_t x) { return faiss::decode_fp16(x); }

template <typename X, typename Y>
__attribute__((target("avx2,fma,f16c"))) float dot_avx2(const X *x, const Y *y, size_t d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        a0 = _mm256_fmadd_ps(load8(x + i), load8(y + i), a0);
        a1 = _mm256_fmadd_ps(load8(x + i + 8), load8(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(load8(x + i + 16), load8(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(load8(x + i + 24), load8(y + i + 24), a3);
    }
    for (; i + 8 <= d; i += 8) a0 = _mm256_fmadd_ps(load8(x + i), load8(y + i), a0);
    __m256 sum = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
    float result = _mm_cvtss_f32(half);
    for (; i < d; i++) result += scalar(x[i]) * scalar(y[i]);
    return result;
}

template <typename X, typename Y>
float dot_portable(const X *x, const Y *y, size_t d) {
    float result = 0;
    for (size_t i = 0; i < d; i++) result += scalar(x[i]) * scalar(y[i]);
    return result;
}

template <typename X>
using Dot = float (*)(const X *, const uint16_t *, size_t);

template <typename X>
Dot<X> pick_dot() {
    __builtin_cpu_init();
    const bool fast = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return fast ? dot_avx2<X, uint16_t> : dot_portable<X, uint16_t>;
}

// A float32 query against a stored vector, and two stored vectors (HNSW's build).
const Dot<float> dot = pick_dot<float>();
const Dot<uint16_t> dot_stored = pick_dot<uint16_t>();

// Float16 inner-product storage whose distances (HNSW's traversal and build) and exact search
// use `dot`. Saved and read as FAISS's own IndexScalarQuantizer (QT_fp16).
struct Float16IP : faiss::IndexScalarQuantizer {
    explicit Float16IP(idx_t d) : faiss::IndexScalarQuantizer(d, ScalarQuantizer::QT_fp16, faiss::METRIC_INNER_PRODUCT) {}

    const uint16_t *vector(idx_t i) const { return reinterpret_cast<const uint16_t *>(codes.data()) + i * d; }

    struct Computer : faiss::FlatCodesDistanceComputer {
        const Float16IP &index;
        const float *query = nullptr;
        explicit Computer(const Float16IP &index)
                : faiss::FlatCodesDistanceComputer(index.codes.data(), index.code_size), index(index) {}
        void set_query(const float *x) override { query = x; }
        float distance_to_code(const uint8_t *code) override {
            return dot(query, reinterpret_cast<const uint16_t *>(code), index.d);
        }
        float symmetric_dis(idx_t i, idx_t j) override { return dot_stored(index.vector(i), index.vector(j), index.d); }
    };

    faiss::FlatCodesDistanceComputer *get_FlatCodesDistanceComputer() const override { return new Computer(*this); }

    void search(idx_t n, const float *x, idx_t k, float *distances, idx_t *labels,
                const faiss::SearchParameters * = nullptr) const override {
        std::vector<std::pair<float, idx_t>> scored(ntotal);
        for (idx_t q = 0; q < n; q++) {
            const float *query = x + q * d;
            for (idx_t i = 0; i < ntotal; i++) scored[i] = {dot(query, vector(i), d), i};
            const idx_t kept = std::min<idx_t>(k, ntotal);
            std::partial_sort(scored.begin(), scored.begin() + kept, scored.end(),
                              [](const auto &a, const auto &b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
            for (idx_t j = 0; j < k; j++) {
                distances[q * k + j] = j < kept ? scored[j].first : -std::numeric_limits<float>::infinity();
                labels[q * k + j] = j < kept ? scored[j].second : -1;
            }
        }
    }
};

bool isFloat16IP(const faiss::Index *index) {
    auto *sq = dynamic_cast<const faiss::IndexScalarQuantizer *>(index);
    return sq && sq->sq.qtype == ScalarQuantizer::QT_fp16 && sq->metric_type == faiss::METRIC_INNER_PRODUCT;
}

// A Float16IP holding the vectors of `read` (a float16 IndexScalarQuantizer, which is deleted).
Float16IP *faster(faiss::Index *read) {
    auto *sq = dynamic_cast<faiss::IndexScalarQuantizer *>(read);
    auto *fast = new Float16IP(sq->d);
    fast->codes = std::move(sq->codes);
    fast->ntotal = sq->ntotal;
    delete sq;
    return fast;
}

}  // namespace

// The wrapper owns an IndexIDMap over either a Float16IP or an IndexHNSW whose storage is one.
// Searches go to the inner index (so HNSW's efSearch applies) and ids are translated here.
struct loupe_faiss_index {
    std::unique_ptr<faiss::IndexIDMap> map;

    faiss::IndexHNSW *hnsw() const { return dynamic_cast<faiss::IndexHNSW *>(map->index); }

    // The vectors, in storage order, for both kinds.
    const Float16IP &storage() const {
        if (auto *h = hnsw()) return *static_cast<const Float16IP *>(h->storage);
        return *static_cast<const Float16IP *>(map->index);
    }
};

namespace {

void fail(char **error, const char *message) {
    if (error) *error = strdup(message);
}

template <typename F>
int guarded(char **error, F &&body) {
    try {
        body();
        return 0;
    } catch (const std::exception &e) {
        fail(error, e.what());
    } catch (...) {
        fail(error, "unknown FAISS error");
    }
    return -1;
}

}  // namespace

extern "C" {

loupe_faiss_index *loupe_faiss_new(int dimension, int hnsw_neighbors, int ef_construction, char **error) {
    loupe_faiss_index *result = nullptr;
    guarded(error, [&] {
        faiss::Index *inner;
        if (hnsw_neighbors > 0) {
            auto *h = new faiss::IndexHNSWSQ(dimension, ScalarQuantizer::QT_fp16, hnsw_neighbors, faiss::METRIC_INNER_PRODUCT);
            h->hnsw.efConstruction = std::max(ef_construction, hnsw_neighbors);
            h->storage = faster(h->storage);
            h->is_trained = true;  // float16 needs no training
            inner = h;
        } else {
            inner = new Float16IP(dimension);
        }
        auto map = std::make_unique<faiss::IndexIDMap>(inner);
        map->own_fields = true;
        result = new loupe_faiss_index{std::move(map)};
    });
    return result;
}

loupe_faiss_index *loupe_faiss_read(const char *path, char **error) {
    loupe_faiss_index *result = nullptr;
    guarded(error, [&] {
        std::unique_ptr<faiss::Index> read(faiss::read_index(path));
        auto *map = dynamic_cast<faiss::IndexIDMap *>(read.get());
        auto *h = map ? dynamic_cast<faiss::IndexHNSW *>(map->index) : nullptr;
        if (!map || map->metric_type != faiss::METRIC_INNER_PRODUCT || !isFloat16IP(h ? h->storage : map->index)) {
            throw std::runtime_error("not a Loupe similarity index (an id map over float16 inner-product flat or HNSW storage)");
        }
        read.release();
        if (h) {
            h->storage = faster(h->storage);
        } else {
            map->index = faster(map->index);
        }
        result = new loupe_faiss_index{std::unique_ptr<faiss::IndexIDMap>(map)};
    });
    return result;
}

int loupe_faiss_write(const loupe_faiss_index *index, const char *path, char **error) {
    return guarded(error, [&] { faiss::write_index(index->map.get(), path); });
}

void loupe_faiss_free(loupe_faiss_index *index) { delete index; }

void loupe_faiss_free_error(char *error) { free(error); }

int loupe_faiss_dimension(const loupe_faiss_index *index) { return index->map->d; }

int loupe_faiss_hnsw_neighbors(const loupe_faiss_index *index) {
    auto *h = index->hnsw();
    return h ? h->hnsw.nb_neighbors(1) : 0;
}

int64_t loupe_faiss_count(const loupe_faiss_index *index) { return index->map->ntotal; }

int loupe_faiss_add(loupe_faiss_index *index, int64_t count, const float *vectors, const int64_t *ids, char **error) {
    return guarded(error, [&] { index->map->add_with_ids(count, vectors, ids); });
}

void loupe_faiss_ids(const loupe_faiss_index *index, int64_t *ids) {
    std::copy(index->map->id_map.begin(), index->map->id_map.end(), ids);
}

int loupe_faiss_vectors(const loupe_faiss_index *index, int64_t first, int64_t count, float *out, char **error) {
    return guarded(error, [&] {
        if (first < 0 || count < 0 || first + count > index->map->ntotal) throw std::runtime_error("vector range out of bounds");
        const auto &storage = index->storage();
        storage.sa_decode(count, reinterpret_cast<const uint8_t *>(storage.vector(first)), out);
    });
}

int loupe_faiss_search(const loupe_faiss_index *index, const float *query, int64_t k, int ef_search,
                       float *scores, int64_t *ids, char **error) {
    return guarded(error, [&] {
        // Debian's FAISS 1.7.3 ignores SearchParametersHNSW: efSearch is set on the index (the
        // caller serialises searches).
        if (auto *h = index->hnsw()) h->hnsw.efSearch = std::max<int64_t>(ef_search, k);
        index->map->index->search(1, query, k, scores, ids);
        const auto &map = index->map->id_map;
        for (int64_t i = 0; i < k; i++) {
            if (ids[i] >= 0) ids[i] = map[ids[i]];
        }
    });
}

int loupe_faiss_score_positions(const loupe_faiss_index *index, const float *query, const int64_t *positions,
                                int64_t count, float *scores, char **error) {
    return guarded(error, [&] {
        const auto &storage = index->storage();
        for (int64_t i = 0; i < count; i++) {
            if (positions[i] < 0 || positions[i] >= index->map->ntotal) throw std::runtime_error("position out of bounds");
            scores[i] = dot(query, storage.vector(positions[i]), storage.d);
        }
    });
}

}  // extern "C"
