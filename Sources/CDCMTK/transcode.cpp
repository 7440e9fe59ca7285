// Transfer syntax conversion of stored instances, for clients that cannot take them as stored.
#include "shim.hpp"

#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcxfer.h"

using namespace loupe;

extern "C" int loupe_transcode(const char *file_path, const char *transfer_syntax_uid, const char *output_path,
                               char *error, size_t error_size) {
    const E_TransferSyntax target = DcmXfer(transfer_syntax_uid).getXfer();
    if (target == EXS_Unknown) {
        setError(error, error_size, std::string("unknown transfer syntax ") + transfer_syntax_uid);
        return -1;
    }
    DcmFileFormat file;
    OFCondition cond = file.loadFile(file_path);
    if (cond.bad()) {
        setError(error, error_size, std::string("cannot read the stored file: ") + cond.text());
        return -1;
    }
    DcmDataset *dataset = file.getDataset();
    if (dataset->chooseRepresentation(target, nullptr).bad() || !dataset->canWriteXfer(target)) {
        setError(error, error_size, std::string("no codec converts ") + DcmXfer(dataset->getOriginalXfer()).getXferID() +
                                        " to " + transfer_syntax_uid);
        return -1;
    }
    cond = file.saveFile(output_path, target);
    if (cond.bad()) {
        setError(error, error_size, std::string("cannot write the converted file: ") + cond.text());
        return -1;
    }
    return 0;
}
