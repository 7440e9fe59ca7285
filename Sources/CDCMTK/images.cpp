// Rendering and frame decoding through DCMTK's image toolkit and codecs.
#include "shim.hpp"

#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmimage/diregist.h" /* color images */
#include "dcmtk/dcmimage/dipipng.h"
#include "dcmtk/dcmimgle/dcmimage.h"
#include "dcmtk/dcmjpeg/dipijpeg.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

using namespace loupe;

extern "C" void loupe_free(void *pointer) { free(pointer); }

namespace {

const char *statusText(EI_Status status) {
    switch (status) {
    case EIS_InvalidDocument: return "not a DICOM image";
    case EIS_InvalidImage: return "the image cannot be read";
    case EIS_InvalidValue: return "an image attribute has an invalid value";
    case EIS_NotSupportedValue: return "an image attribute has an unsupported value (e.g. a transfer syntax without codec)";
    case EIS_MemoryFailure: return "out of memory";
    case EIS_MissingAttribute: return "a required image attribute is missing";
    default: return "the image cannot be rendered";
    }
}

/// DCMTK 3.6.7 knows LINEAR and SIGMOID; LINEAR_EXACT is rendered as LINEAR.
EF_VoiLutFunction voiFunction(loupe_voi_function function) {
    return function == LOUPE_VOI_SIGMOID ? EFV_Sigmoid : EFV_Linear;
}

} // namespace

extern "C" int loupe_render(const loupe_render_request *request, uint8_t **image, size_t *length,
                            loupe_render_info *info, char *error, size_t error_size) {
    *image = nullptr;
    *length = 0;
    loupe_render_info applied{};
    std::unique_ptr<DicomImage> dicom(
        new DicomImage(request->file_path, CIF_UsePartialAccessToPixelData, request->frame, 1));
    if (dicom->getStatus() != EIS_Normal) {
        setError(error, error_size, statusText(dicom->getStatus()));
        return -1;
    }
    if (dicom->getFrameCount() == 0 || request->frame >= dicom->getNumberOfFrames()) {
        setError(error, error_size, "frame " + std::to_string(request->frame + 1) + " does not exist");
        return -1;
    }
    applied.columns = static_cast<uint32_t>(dicom->getWidth());
    applied.rows = static_cast<uint32_t>(dicom->getHeight());
    applied.frames = static_cast<uint32_t>(dicom->getNumberOfFrames());
    if (dicom->isMonochrome()) {
        if (request->has_window) {
            dicom->setWindow(request->window_center, request->window_width);
            dicom->setVoiLutFunction(voiFunction(request->voi_function));
            applied.voi_source = LOUPE_VOI_SOURCE_REQUEST;
        } else if (dicom->getWindowCount() > 0) {
            dicom->setWindow(0);
            applied.voi_source = LOUPE_VOI_SOURCE_FILE_WINDOW;
        } else if (dicom->getVoiLutCount() > 0) {
            dicom->setVoiLut(0);
            applied.voi_source = LOUPE_VOI_SOURCE_FILE_LUT;
        } else {
            dicom->setMinMaxWindow();
            applied.voi_source = LOUPE_VOI_SOURCE_MIN_MAX;
        }
        if (applied.voi_source != LOUPE_VOI_SOURCE_FILE_LUT) {
            dicom->getWindow(applied.window_center, applied.window_width);
            applied.sigmoid = dicom->getVoiLutFunction() == EFV_Sigmoid;
        }
    }
    if (request->viewport_width > 0 || request->viewport_height > 0) {
        const double width = dicom->getWidth(), height = dicom->getHeight();
        const double fx = request->viewport_width > 0 ? request->viewport_width / width : INFINITY;
        const double fy = request->viewport_height > 0 ? request->viewport_height / height : INFINITY;
        const double factor = std::min(fx, fy);
        const unsigned long w = std::max(1ul, static_cast<unsigned long>(std::lround(width * factor)));
        const unsigned long h = std::max(1ul, static_cast<unsigned long>(std::lround(height * factor)));
        DicomImage *scaled = dicom->createScaledImage(w, h, 1 /* interpolate */, 0);
        if (scaled == nullptr) {
            setError(error, error_size, "the image cannot be scaled");
            return -1;
        }
        dicom.reset(scaled);
    }
    applied.output_columns = static_cast<uint32_t>(dicom->getWidth());
    applied.output_rows = static_cast<uint32_t>(dicom->getHeight());
    if (request->format == LOUPE_IMAGE_RGB8) {
        const size_t pixels = size_t(applied.output_columns) * applied.output_rows;
        const Uint8 *data = static_cast<const Uint8 *>(dicom->getOutputData(8, 0, 0));
        if (data == nullptr) {
            setError(error, error_size, "the image could not be rendered");
            return -1;
        }
        uint8_t *rgb = static_cast<uint8_t *>(malloc(pixels * 3));
        if (rgb == nullptr) {
            setError(error, error_size, "out of memory");
            return -1;
        }
        if (dicom->isMonochrome()) {
            for (size_t i = 0; i < pixels; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i];
        } else {
            memcpy(rgb, data, pixels * 3);  // colour output is interleaved RGB
        }
        *image = rgb;
        *length = pixels * 3;
        if (info != nullptr) *info = applied;
        return 0;
    }
    char *buffer = nullptr;
    size_t size = 0;
    FILE *stream = open_memstream(&buffer, &size);
    if (stream == nullptr) {
        setError(error, error_size, "out of memory");
        return -1;
    }
    int written = 0;
    if (request->format == LOUPE_IMAGE_JPEG) {
        DiJPEGPlugin plugin;
        plugin.setQuality(request->quality > 0 && request->quality <= 100 ? request->quality : 90);
        plugin.setSampling(ESS_444);
        written = dicom->writePluginFormat(&plugin, stream, 0);
    } else {
        DiPNGPlugin plugin;
        plugin.setBitsPerSample(8);
        plugin.setInterlaceType(E_pngInterlaceNone);  // as dcmj2pnm -il: smaller, and byte-comparable with it
        written = dicom->writePluginFormat(&plugin, stream, 0);
    }
    fclose(stream);
    if (!written || size == 0) {
        free(buffer);
        setError(error, error_size, "the image could not be encoded");
        return -1;
    }
    *image = reinterpret_cast<uint8_t *>(buffer);
    *length = size;
    if (info != nullptr) *info = applied;
    return 0;
}

extern "C" int loupe_decode_frame(const char *file_path, uint32_t frame, uint8_t **bytes, size_t *length,
                                  char *color_model, size_t color_model_size, char *error, size_t error_size) {
    *bytes = nullptr;
    *length = 0;
    DcmFileFormat file;
    OFCondition cond = file.loadFile(file_path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
    if (cond.bad()) {
        setError(error, error_size, std::string("cannot read the file: ") + cond.text());
        return -1;
    }
    DcmDataset *dataset = file.getDataset();
    DcmElement *element = nullptr;
    if (dataset->findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
        setError(error, error_size, "the instance has no pixel data");
        return -1;
    }
    auto *pixels = OFstatic_cast(DcmPixelData *, element);
    Uint32 frameSize = 0;
    if (pixels->getUncompressedFrameSize(dataset, frameSize).bad() || frameSize == 0) {
        setError(error, error_size, "the frame size cannot be determined");
        return -1;
    }
    Sint32 frames = 1;
    dataset->findAndGetSint32(DCM_NumberOfFrames, frames);
    if (frames < 1) frames = 1;
    if (frame >= static_cast<Uint32>(frames)) {
        setError(error, error_size, "frame " + std::to_string(frame + 1) + " does not exist");
        return -1;
    }
    // Even size, as DCMTK writes a little past odd frame sizes.
    uint8_t *buffer = static_cast<uint8_t *>(malloc(frameSize + 1));
    Uint32 startFragment = 0;
    OFString model;
    cond = pixels->getUncompressedFrame(dataset, frame, startFragment, buffer, frameSize + (frameSize & 1), model);
    if (cond.bad()) {
        free(buffer);
        setError(error, error_size, std::string("the frame cannot be decoded: ") + cond.text());
        return -1;
    }
    copyString(color_model, color_model_size, model.c_str());
    *bytes = buffer;
    *length = frameSize;
    return 0;
}
