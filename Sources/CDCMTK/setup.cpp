// Process-wide DCMTK setup, done once before any thread uses DCMTK.
#include "shim.hpp"

#include "dcmtk/dcmdata/dcdict.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/dcmnet/dul.h"
#include "dcmtk/oflog/oflog.h"

#include <cstdlib>
#include <mutex>

static OFLogger::LogLevel toOFLogLevel(loupe_log_level level) {
    switch (level) {
    case LOUPE_LOG_TRACE: return OFLogger::TRACE_LOG_LEVEL;
    case LOUPE_LOG_DEBUG: return OFLogger::DEBUG_LOG_LEVEL;
    case LOUPE_LOG_INFO: return OFLogger::INFO_LOG_LEVEL;
    case LOUPE_LOG_WARN: return OFLogger::WARN_LOG_LEVEL;
    case LOUPE_LOG_ERROR: return OFLogger::ERROR_LOG_LEVEL;
    default: return OFLogger::FATAL_LOG_LEVEL;
    }
}

extern "C" int loupe_dcmtk_initialize(loupe_log_level level, char *error, size_t error_size) {
    static std::once_flag once;
    static bool dictionaryLoaded = false;
    std::call_once(once, [level] {
        // Debian's DCMTK leaves Nagle on unless told otherwise: every small C-STORE would wait ~40 ms.
        setenv("TCP_NODELAY", "1", 0);
        OFLog::configure(toOFLogLevel(level));
        dictionaryLoaded = dcmDataDict.isDictionaryLoaded();
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
        loupe::registerJPEG2000Decoder();
        // Keep data exactly as received: no automatic "corrections" of padding or lengths.
        dcmEnableAutomaticInputDataCorrection.set(OFFalse);
        // Bound the TCP connect of outgoing associations.
        dcmConnectionTimeout.set(15);
        // Peers are identified by address; reverse DNS per association would only add latency.
        dcmDisableGethostbyaddr.set(OFTrue);
    });
    if (!dictionaryLoaded) {
        loupe::setError(error, error_size,
                        "DCMTK's data dictionary could not be loaded (install dcmtk, or set DCMDICTPATH)");
        return -1;
    }
    return 0;
}
