#include "loupe_faiss.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>

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

// Inner products of 1280-d float vectors are nearly all the work of a search or an HNSW build.
// Debian builds libfaiss for baseline x86-64 (no AVX), several times slower than FAISS's own
// AVX2 kernels; this one is chosen at run time when the CPU has AVX2 and FMA.
__attribute__((target("avx2,fma"))) float dot_avx2(const float *x, const float *y, size_t d) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= d; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= d; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    __m256 sum = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    half = _mm_add_ps(half, _mm_movehl_ps(half, half));
    half = _mm_add_ss(half, _mm_shuffle_ps(half, half, 1));
    float result = _mm_cvtss_f32(half);
    for (; i < d; i++) result += x[i] * y[i];
    return result;
}

float dot_portable(const float *x, const float *y, size_t d) { return faiss::fvec_inner_product(x, y, d); }

using Dot = float (*)(const float *, const float *, size_t);

Dot pick_dot() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? dot_avx2 : dot_portable;
}

const Dot dot = pick_dot();

// Flat inner-product storage whose distances (HNSW's traversal and build) and exact search use `dot`.
// Saved and read as a plain IndexFlatIP.
struct FastFlatIP : faiss::IndexFlatIP {
    explicit FastFlatIP(idx_t d) : faiss::IndexFlatIP(d) {}

    struct Computer : faiss::FlatCodesDistanceComputer {
        const float *base;
        size_t d;
        const float *query = nullptr;
        Computer(const FastFlatIP &index)
                : faiss::FlatCodesDistanceComputer(index.codes.data(), index.code_size), base(index.get_xb()), d(index.d) {}
        void set_query(const float *x) override { query = x; }
        float distance_to_code(const uint8_t *code) override { return dot(query, reinterpret_cast<const float *>(code), d); }
        float symmetric_dis(idx_t i, idx_t j) override { return dot(base + i * d, base + j * d, d); }
    };

    faiss::FlatCodesDistanceComputer *get_FlatCodesDistanceComputer() const override { return new Computer(*this); }

    void search(idx_t n, const float *x, idx_t k, float *distances, idx_t *labels,
                const faiss::SearchParameters * = nullptr) const override {
        const float *base = get_xb();
        std::vector<std::pair<float, idx_t>> scored(ntotal);
        for (idx_t q = 0; q < n; q++) {
            const float *query = x + q * d;
            for (idx_t i = 0; i < ntotal; i++) scored[i] = {dot(query, base + i * d, d), i};
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

// A FastFlatIP holding the vectors of `flat` (which is deleted).
FastFlatIP *faster(faiss::IndexFlat *flat) {
    auto *fast = new FastFlatIP(flat->d);
    fast->codes = std::move(flat->codes);
    fast->ntotal = flat->ntotal;
    delete flat;
    return fast;
}

}  // namespace

// The wrapper owns an IndexIDMap over either a FastFlatIP or an IndexHNSWFlat whose storage is
// one. Searches go to the inner index (so HNSW's efSearch applies) and ids are translated here.
struct loupe_faiss_index {
    std::unique_ptr<faiss::IndexIDMap> map;

    faiss::IndexHNSWFlat *hnsw() const { return dynamic_cast<faiss::IndexHNSWFlat *>(map->index); }

    // Flat storage of the vectors, in storage order, for both kinds.
    const faiss::IndexFlat *flat() const {
        if (auto *h = hnsw()) return dynamic_cast<const faiss::IndexFlat *>(h->storage);
        return dynamic_cast<const faiss::IndexFlat *>(map->index);
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
            auto *h = new faiss::IndexHNSWFlat(dimension, hnsw_neighbors, faiss::METRIC_INNER_PRODUCT);
            h->hnsw.efConstruction = std::max(ef_construction, hnsw_neighbors);
            h->storage = faster(dynamic_cast<faiss::IndexFlat *>(h->storage));
            inner = h;
        } else {
            inner = new FastFlatIP(dimension);
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
        if (!map || map->metric_type != faiss::METRIC_INNER_PRODUCT ||
            !(dynamic_cast<faiss::IndexFlat *>(map->index) || dynamic_cast<faiss::IndexHNSWFlat *>(map->index))) {
            throw std::runtime_error("not a Loupe similarity index (an id map over inner-product flat or HNSW storage)");
        }
        read.release();
        if (auto *h = dynamic_cast<faiss::IndexHNSWFlat *>(map->index)) {
            h->storage = faster(dynamic_cast<faiss::IndexFlat *>(h->storage));
        } else {
            map->index = faster(dynamic_cast<faiss::IndexFlat *>(map->index));
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
        const float *base = index->flat()->get_xb();
        std::memcpy(out, base + first * index->map->d, sizeof(float) * count * index->map->d);
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
        const float *base = index->flat()->get_xb();
        const size_t d = index->map->d;
        for (int64_t i = 0; i < count; i++) {
            if (positions[i] < 0 || positions[i] >= index->map->ntotal) throw std::runtime_error("position out of bounds");
            scores[i] = dot(query, base + positions[i] * d, d);
        }
    });
}

}  // extern "C"
