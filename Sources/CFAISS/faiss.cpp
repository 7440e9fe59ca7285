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
#include <memory>

// The wrapper owns an IndexIDMap over either an IndexFlatIP or an IndexHNSWFlat (inner
// product). Searches go to the inner index (so HNSW search parameters apply) and ids are
// translated here.
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
            inner = h;
        } else {
            inner = new faiss::IndexFlatIP(dimension);
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
        faiss::Index *inner = index->map->index;
        if (index->hnsw()) {
            faiss::SearchParametersHNSW parameters;
            parameters.efSearch = std::max<int64_t>(ef_search, k);
            inner->search(1, query, k, scores, ids, &parameters);
        } else {
            inner->search(1, query, k, scores, ids);
        }
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
            scores[i] = faiss::fvec_inner_product(query, base + positions[i] * d, d);
        }
    });
}

}  // extern "C"
