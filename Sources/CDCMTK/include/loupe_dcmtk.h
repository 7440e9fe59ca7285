/*
 * Loupe's bridge to DCMTK: a plain C interface over the C++ shim. Nothing here exposes a DCMTK
 * type; data crosses as bytes (data sets encoded explicit VR little endian), strings and numbers.
 */
#ifndef LOUPE_DCMTK_H
#define LOUPE_DCMTK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- process setup ------------------------------------------------------------------------ */

/** Log levels for DCMTK's own messages (oflog). */
typedef enum loupe_log_level {
    LOUPE_LOG_TRACE = 0,
    LOUPE_LOG_DEBUG = 1,
    LOUPE_LOG_INFO = 2,
    LOUPE_LOG_WARN = 3,
    LOUPE_LOG_ERROR = 4,
    LOUPE_LOG_FATAL = 5
} loupe_log_level;

/**
 * One-time setup, before any thread uses DCMTK: logging, TCP_NODELAY, the data dictionary and the
 * JPEG / JPEG-LS / RLE codecs. Safe to call more than once. Returns 0, or -1 with a message in
 * `error` when the data dictionary cannot be loaded.
 */
int loupe_dcmtk_initialize(loupe_log_level level, char *error, size_t error_size);

/* ---- common types --------------------------------------------------------------------------- */

/** The outcome of a DIMSE operation: a status (PS3.7 Annex C) and an optional error comment. */
typedef struct loupe_outcome {
    uint16_t status;
    char comment[65]; /* Error Comment (0000,0902) is LO: at most 64 characters */
} loupe_outcome;

/** Sets the comment of an outcome (truncated to 64 characters). */
void loupe_outcome_set_comment(loupe_outcome *outcome, const char *comment);

/** Query/retrieve information models. */
typedef enum loupe_query_model {
    LOUPE_MODEL_PATIENT_ROOT = 1,
    LOUPE_MODEL_STUDY_ROOT = 2
} loupe_query_model;

/* ---- TLS ------------------------------------------------------------------------------------ */

/** A TLS context: PEM files, TLS 1.2 or newer (the BCP 195 profile). */
typedef struct loupe_tls_config {
    const char *certificate_file;   /* the node's certificate (a chain may follow it); NULL for a requestor without one */
    const char *private_key_file;   /* its private key, unencrypted */
    const char *ca_file;            /* certificates trusted to sign peers' certificates; NULL: none */
    int require_peer_certificate;   /* acceptor: 1 refuses peers without a valid certificate (mutual TLS); 0 checks one if presented */
} loupe_tls_config;

/**
 * Sets the TLS context of outgoing associations to peers marked TLS (SCU services and C-MOVE
 * sub-operations). They always verify the peer's certificate against `ca_file` and its host name.
 * Returns 0, or -1 with a message.
 */
int loupe_tls_configure_requestor(const loupe_tls_config *config, char *error, size_t error_size);

/* ---- SCP ------------------------------------------------------------------------------------ */

/** The peer of an association, as callbacks see it. */
typedef struct loupe_association {
    uint64_t id;
    const char *calling_ae;
    const char *called_ae;
    const char *peer_host;
    int tls;                        /* 1 when the association runs over TLS */
    const char *peer_subject;       /* the peer certificate's subject (one line); "" without one */
    const char *peer_common_name;   /* its common name (CN); "" without one */
} loupe_association;

/** Association policy decisions (each maps to a standard A-ASSOCIATE-RJ reason). */
typedef enum loupe_association_decision {
    LOUPE_ASSOCIATION_ACCEPT = 0,
    LOUPE_REJECT_CALLED_AE_NOT_RECOGNIZED = 1,  /* rejected-permanent, service user, reason 7 */
    LOUPE_REJECT_CALLING_AE_NOT_RECOGNIZED = 2, /* rejected-permanent, service user, reason 3 */
    LOUPE_REJECT_NO_REASON = 3                  /* rejected-permanent, service user, reason 1 */
} loupe_association_decision;

/** A C-STORE whose data set has been received, bit for bit, into a Part-10 file. */
typedef struct loupe_store_request {
    const char *sop_class_uid;
    const char *sop_instance_uid;
    const char *transfer_syntax_uid;
    /** The received file. The callback may move it; whatever is left is deleted afterwards. */
    const char *file_path;
    const char *move_originator_ae; /* empty unless the C-STORE is a C-MOVE sub-operation */
} loupe_store_request;

/** A C-FIND, C-MOVE or C-GET request. */
typedef struct loupe_query {
    loupe_query_model model;
    const uint8_t *identifier; /* explicit VR little endian data set */
    size_t identifier_length;
    const char *move_destination; /* C-MOVE only, else empty */
} loupe_query;

/** Sends C-FIND pending responses on behalf of a find callback. */
typedef struct loupe_find_responder loupe_find_responder;

/**
 * Sends one match (explicit VR little endian data set) as a pending response. Returns 1 to go on,
 * 0 when the requester cancelled (C-CANCEL) or the association failed: stop producing matches then.
 */
int loupe_find_respond(loupe_find_responder *responder, const uint8_t *identifier, size_t length);

/** The instances a C-MOVE or C-GET will send; filled by the retrieve callback. */
typedef struct loupe_retrieve_plan loupe_retrieve_plan;

/** C-MOVE: where to send (the callback resolves the move destination AE title), over TLS when `tls`. */
void loupe_retrieve_set_destination(loupe_retrieve_plan *plan, const char *ae_title, const char *host, uint16_t port, int tls);

/** Adds one stored instance (a Part-10 file) to send. */
void loupe_retrieve_add(loupe_retrieve_plan *plan, const char *file_path, const char *sop_class_uid,
                        const char *sop_instance_uid, const char *transfer_syntax_uid);

/**
 * Callbacks into the application. They run on association threads, possibly several at once.
 * Each fills `outcome`; a retrieve callback that leaves status 0 has its plan executed.
 */
typedef struct loupe_scp_handlers {
    void *context;
    loupe_association_decision (*associate)(void *context, const loupe_association *association);
    /** A C-ECHO: the status to answer (0 success, 0x0124 not authorized). */
    uint16_t (*echo)(void *context, const loupe_association *association);
    void (*store)(void *context, const loupe_association *association, const loupe_store_request *request,
                  loupe_outcome *outcome);
    void (*find)(void *context, const loupe_association *association, const loupe_query *query,
                 loupe_find_responder *responder, loupe_outcome *outcome);
    void (*retrieve)(void *context, const loupe_association *association, const loupe_query *query,
                     loupe_retrieve_plan *plan, loupe_outcome *outcome);
    /** A C-MOVE (move = 1) or C-GET has sent its final response: its status and the seconds since the request. */
    void (*retrieved)(void *context, const loupe_association *association, int move, uint16_t status, double seconds);
    /** An association ended (released, aborted or timed out); `reason` is a short description. */
    void (*ended)(void *context, const loupe_association *association, const char *reason);
} loupe_scp_handlers;

typedef struct loupe_scp_config {
    const char *ae_title;
    const char *bind_address;   /* an IPv4 or IPv6 address to listen on; NULL or "": every address */
    uint16_t port;              /* 0: an ephemeral port, see loupe_scp_port */
    const loupe_tls_config *tls; /* NULL: plain TCP; else every association on this port runs over TLS */
    const char *staging_dir;    /* where received data sets are written before the store callback */
    int max_associations;       /* further association requests are rejected (transient, local limit) */
    int acse_timeout_seconds;
    int dimse_timeout_seconds;  /* also the idle time after which an association is aborted */
    uint32_t max_pdu_length;
} loupe_scp_config;

typedef struct loupe_scp loupe_scp;

/** Opens the listening port and starts the accept loop. NULL with a message on failure. */
loupe_scp *loupe_scp_start(const loupe_scp_config *config, loupe_scp_handlers handlers, char *error, size_t error_size);

/** The port actually listened on. */
uint16_t loupe_scp_port(const loupe_scp *scp);

/** Associations currently open. */
int loupe_scp_active_associations(const loupe_scp *scp);

/**
 * Stops accepting, lets open associations finish their current operation (aborting idle ones),
 * waits up to `grace_seconds` for them, joins every thread and frees the SCP.
 */
void loupe_scp_stop(loupe_scp *scp, int grace_seconds);

/* ---- SCU ------------------------------------------------------------------------------------ */

typedef struct loupe_peer {
    const char *calling_ae;
    const char *called_ae;
    const char *host;
    uint16_t port;
    int timeout_seconds;
    int tls;                    /* 1: over TLS (see loupe_tls_configure_requestor) */
} loupe_peer;

/** C-ECHO. Returns 0 when the exchange happened (status in `outcome`), -1 with `error` otherwise. */
int loupe_scu_echo(const loupe_peer *peer, loupe_outcome *outcome, char *error, size_t error_size);

/** One file to send with C-STORE; `status` receives the peer's response status. */
typedef struct loupe_store_item {
    const char *file_path;
    const char *sop_class_uid;
    const char *sop_instance_uid;
    const char *transfer_syntax_uid;
    uint16_t status;
    int sent; /* 1 when a response was received */
} loupe_store_item;

/**
 * C-STORE of several files over as few associations as their presentation contexts allow.
 * Returns 0 when every item got a response (see their statuses), -1 with `error` otherwise.
 */
int loupe_scu_store(const loupe_peer *peer, loupe_store_item *items, size_t count, char *error, size_t error_size);

/**
 * C-FIND; `on_match` is called with each pending response's identifier. Returns 0 with the final
 * status in `outcome`, -1 with `error` on a network or negotiation failure.
 */
int loupe_scu_find(const loupe_peer *peer, loupe_query_model model, const uint8_t *identifier, size_t length,
                   void (*on_match)(void *context, const uint8_t *identifier, size_t length), void *context,
                   loupe_outcome *outcome, char *error, size_t error_size);

/** Sub-operation counts of a C-MOVE or C-GET. */
typedef struct loupe_retrieve_counts {
    uint16_t completed;
    uint16_t failed;
    uint16_t warning;
} loupe_retrieve_counts;

/** C-MOVE to `destination_ae`. Returns 0 with the final status and counts, -1 with `error`. */
int loupe_scu_move(const loupe_peer *peer, loupe_query_model model, const uint8_t *identifier, size_t length,
                   const char *destination_ae, loupe_retrieve_counts *counts, loupe_outcome *outcome,
                   char *error, size_t error_size);

/* ---- images ------------------------------------------------------------------------------------ */

/** Frees memory the shim allocated for a result (rendered images, decoded frames). */
void loupe_free(void *pointer);

typedef enum loupe_image_format {
    LOUPE_IMAGE_PNG = 1,
    LOUPE_IMAGE_JPEG = 2,
    LOUPE_IMAGE_RGB8 = 3          /* raw 8-bit RGB, row-major, interleaved; grey replicated */
} loupe_image_format;

/** VOI LUT Function (0028,1056) for an explicit window. */
typedef enum loupe_voi_function {
    LOUPE_VOI_LINEAR = 0,
    LOUPE_VOI_LINEAR_EXACT = 1,
    LOUPE_VOI_SIGMOID = 2
} loupe_voi_function;

typedef struct loupe_render_request {
    const char *file_path;
    uint32_t frame;               /* 0-based */
    int has_window;               /* else: the file's first window, else its VOI LUT, else min/max */
    double window_center;
    double window_width;
    loupe_voi_function voi_function;
    uint32_t viewport_width;      /* 0: native size; else scaled to fit, aspect kept */
    uint32_t viewport_height;
    loupe_image_format format;
    int quality;                  /* JPEG quality 1-100 */
} loupe_render_request;

/** Where the VOI transformation of a rendering came from. */
typedef enum loupe_voi_source {
    LOUPE_VOI_SOURCE_NONE = 0,        /* colour image: no VOI */
    LOUPE_VOI_SOURCE_REQUEST = 1,     /* the request's window */
    LOUPE_VOI_SOURCE_FILE_WINDOW = 2, /* the file's first Window Center/Width (and VOI LUT Function) */
    LOUPE_VOI_SOURCE_FILE_LUT = 3,    /* the file's first VOI LUT Sequence item */
    LOUPE_VOI_SOURCE_MIN_MAX = 4      /* a window over the frame's minimum and maximum value */
} loupe_voi_source;

/** What a rendering applied, for the record kept with a derived image. */
typedef struct loupe_render_info {
    loupe_voi_source voi_source;
    double window_center;             /* the window applied (request, file or min/max); 0 otherwise */
    double window_width;
    int sigmoid;                      /* VOI LUT Function SIGMOID */
    uint32_t columns;                 /* of the source image */
    uint32_t rows;
    uint32_t frames;
    uint32_t output_columns;          /* of the result (after fitting a viewport) */
    uint32_t output_rows;
} loupe_render_info;

/**
 * Renders one frame of a stored image (DCMTK's DicomImage: modality LUT, VOI, photometric
 * interpretation) as an 8-bit PNG, JPEG or raw RGB. Returns 0 and a buffer to free with loupe_free, or -1
 * with a message (not an image, frame out of range, a transfer syntax DCMTK cannot decode).
 * `info` (may be NULL) receives what was applied.
 */
int loupe_render(const loupe_render_request *request, uint8_t **image, size_t *length, loupe_render_info *info,
                 char *error, size_t error_size);

/**
 * The native (uncompressed) bytes of one frame (0-based) of a stored image, as Explicit VR Little
 * Endian would carry them, decoding compressed pixel data with DCMTK's codecs. `color_model`
 * receives the photometric interpretation of the result. Returns 0 and a buffer to free with
 * loupe_free, or -1 with a message.
 */
int loupe_decode_frame(const char *file_path, uint32_t frame, uint8_t **bytes, size_t *length, char *color_model,
                       size_t color_model_size, char *error, size_t error_size);

/**
 * Writes a stored instance to `output_path` as a Part-10 file in another transfer syntax, decoding
 * compressed pixel data with DCMTK's codecs (JPEG, JPEG-LS, RLE). Returns 0, or -1 with a message
 * (for example when no codec can convert).
 */
int loupe_transcode(const char *file_path, const char *transfer_syntax_uid, const char *output_path, char *error,
                    size_t error_size);

#ifdef __cplusplus
}
#endif

#endif /* LOUPE_DCMTK_H */
