// A DCMTK decoder for JPEG 2000 pixel data, through OpenJPEG (Debian's DCMTK has none).
// Registered with DcmCodecList like DCMTK's own decoders, so DicomImage rendering, frame access and
// transcoding to an uncompressed syntax all see JPEG 2000 as one more codec.
#include "shim.hpp"

#include "dcmtk/dcmdata/dccodec.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"
#include "dcmtk/dcmdata/dcvrpobw.h"
#include "dcmtk/dcmdata/dcxfer.h"

#include <openjpeg.h>

#include <cstring>
#include <vector>

namespace {

const OFCondition J2KDecodingFailed = makeOFCondition(OFM_dcmdata, 0x4a32, OF_error, "JPEG 2000 decoding failed");
const OFCondition J2KUnsupported = makeOFCondition(
    OFM_dcmdata, 0x4a33, OF_error, "JPEG 2000 image layout not supported (subsampled components or over 16 bits)");
const OFCondition J2KMismatch =
    makeOFCondition(OFM_dcmdata, 0x4a34, OF_error, "JPEG 2000 code stream does not match the image attributes");
const OFCondition J2KNoFrameStart =
    makeOFCondition(OFM_dcmdata, 0x4a35, OF_error, "cannot tell which JPEG 2000 fragments belong to which frame");

bool isJPEG2000(E_TransferSyntax xfer) {
    return xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000 || xfer == EXS_JPEG2000MulticomponentLosslessOnly ||
           xfer == EXS_JPEG2000Multicomponent;
}

/// The image attributes the decoded frame must agree with.
struct Layout {
    Uint16 samples = 0, rows = 0, columns = 0, bitsAllocated = 0, bitsStored = 0, pixelRepresentation = 0;
    Sint32 frames = 1;
    OFString photometric;

    OFCondition read(DcmItem *dataset, DcmPixelSequence *sequence) {
        if (dataset->findAndGetUint16(DCM_SamplesPerPixel, samples).bad() ||
            dataset->findAndGetUint16(DCM_Rows, rows).bad() || dataset->findAndGetUint16(DCM_Columns, columns).bad() ||
            dataset->findAndGetUint16(DCM_BitsAllocated, bitsAllocated).bad())
            return EC_TagNotFound;
        if (dataset->findAndGetUint16(DCM_BitsStored, bitsStored).bad()) bitsStored = bitsAllocated;
        dataset->findAndGetUint16(DCM_PixelRepresentation, pixelRepresentation);
        dataset->findAndGetOFString(DCM_PhotometricInterpretation, photometric);
        if (dataset->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
        const Sint32 fragments = static_cast<Sint32>(sequence->card()) - 1;
        if (frames > fragments) frames = fragments;  // a frame needs at least one fragment
        if (samples != 1 && samples != 3) return J2KUnsupported;
        if (rows == 0 || columns == 0 || frames < 1) return EC_InvalidTag;
        if (bitsAllocated != 8 && bitsAllocated != 16) return J2KUnsupported;
        return EC_Normal;
    }

    size_t bytesPerSample() const { return bitsAllocated / 8; }
    size_t frameBytes() const { return bytesPerSample() * rows * columns * samples; }

    /// Reversible and irreversible colour transforms are undone by OpenJPEG: the pixels come out RGB.
    OFString decodedColorModel() const {
        return (photometric == "YBR_RCT" || photometric == "YBR_ICT") ? OFString("RGB") : photometric;
    }
};

bool startsCodestream(DcmPixelItem *item) {
    Uint8 *data = nullptr;
    if (item->getLength() < 12 || item->getUint8Array(data).bad() || data == nullptr) return false;
    static const Uint8 soc[] = {0xFF, 0x4F, 0xFF, 0x51};                                   // J2K: SOC, SIZ
    static const Uint8 jp2[] = {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A}; // JP2 signature box
    return memcmp(data, soc, sizeof soc) == 0 || memcmp(data, jp2, sizeof jp2) == 0;
}

/// Index of the first fragment of each frame (item 0 is the offset table). One fragment per frame,
/// else the offset table, else fragments that begin a code stream.
OFCondition frameStarts(DcmPixelSequence *sequence, Sint32 frames, std::vector<Uint32> &starts) {
    const Uint32 items = static_cast<Uint32>(sequence->card());
    starts.clear();
    if (frames == 1 || items == static_cast<Uint32>(frames) + 1) {
        for (Sint32 f = 0; f < frames; ++f) starts.push_back(static_cast<Uint32>(f) + 1);
        return EC_Normal;
    }
    DcmPixelItem *table = nullptr;
    Uint8 *raw = nullptr;
    if (sequence->getItem(table, 0).good() && table->getLength() == 4u * static_cast<Uint32>(frames) &&
        table->getUint8Array(raw).good() && raw != nullptr) {
        // Offsets count bytes from the first fragment's item tag; each item adds 8 header bytes.
        std::vector<Uint32> offsets(static_cast<size_t>(frames));
        for (size_t f = 0; f < offsets.size(); ++f) {
            offsets[f] = Uint32(raw[4 * f]) | Uint32(raw[4 * f + 1]) << 8 | Uint32(raw[4 * f + 2]) << 16 |
                         Uint32(raw[4 * f + 3]) << 24;
        }
        Uint32 position = 0;
        size_t next = 0;
        for (Uint32 i = 1; i < items && next < offsets.size(); ++i) {
            DcmPixelItem *item = nullptr;
            if (sequence->getItem(item, i).bad()) break;
            if (position == offsets[next]) {
                starts.push_back(i);
                ++next;
            }
            position += 8 + item->getLength();
        }
        if (starts.size() == offsets.size()) return EC_Normal;
        starts.clear();
    }
    for (Uint32 i = 1; i < items; ++i) {
        DcmPixelItem *item = nullptr;
        if (sequence->getItem(item, i).good() && startsCodestream(item)) starts.push_back(i);
    }
    return starts.size() == static_cast<size_t>(frames) ? EC_Normal : J2KNoFrameStart;
}

/// The fragments of one frame, concatenated.
OFCondition frameCodestream(DcmPixelSequence *sequence, Sint32 frames, Uint32 frame, std::vector<Uint8> &out) {
    std::vector<Uint32> starts;
    OFCondition cond = frameStarts(sequence, frames, starts);
    if (cond.bad()) return cond;
    if (frame >= starts.size()) return EC_IllegalCall;
    const Uint32 end = frame + 1 < starts.size() ? starts[frame + 1] : static_cast<Uint32>(sequence->card());
    out.clear();
    for (Uint32 i = starts[frame]; i < end; ++i) {
        DcmPixelItem *item = nullptr;
        Uint8 *data = nullptr;
        if (sequence->getItem(item, i).bad() || item->getUint8Array(data).bad()) return EC_CorruptedData;
        if (data != nullptr) out.insert(out.end(), data, data + item->getLength());
    }
    return out.empty() ? EC_CorruptedData : EC_Normal;
}

/// OpenJPEG reads the code stream from memory through these.
struct Source {
    const Uint8 *data;
    OPJ_SIZE_T size, position;
};

OPJ_SIZE_T readSource(void *buffer, OPJ_SIZE_T count, void *user) {
    auto *s = static_cast<Source *>(user);
    if (s->position >= s->size) return static_cast<OPJ_SIZE_T>(-1);
    const OPJ_SIZE_T n = std::min(count, s->size - s->position);
    memcpy(buffer, s->data + s->position, n);
    s->position += n;
    return n;
}

OPJ_OFF_T skipSource(OPJ_OFF_T count, void *user) {
    auto *s = static_cast<Source *>(user);
    const OPJ_OFF_T target = std::max<OPJ_OFF_T>(0, std::min<OPJ_OFF_T>(static_cast<OPJ_OFF_T>(s->size),
                                                                         static_cast<OPJ_OFF_T>(s->position) + count));
    const OPJ_OFF_T moved = target - static_cast<OPJ_OFF_T>(s->position);
    s->position = static_cast<OPJ_SIZE_T>(target);
    return moved;
}

OPJ_BOOL seekSource(OPJ_OFF_T position, void *user) {
    auto *s = static_cast<Source *>(user);
    if (position < 0 || static_cast<OPJ_SIZE_T>(position) > s->size) return OPJ_FALSE;
    s->position = static_cast<OPJ_SIZE_T>(position);
    return OPJ_TRUE;
}

void ignoreMessage(const char *, void *) {}

/// Decodes one code stream into `buffer`, color-by-pixel, little endian, `layout.bytesPerSample()` per sample.
OFCondition decodeCodestream(const std::vector<Uint8> &codestream, const Layout &layout, Uint8 *buffer) {
    const bool jp2 = codestream.size() >= 4 && codestream[0] == 0x00 && codestream[3] == 0x0C;
    opj_codec_t *codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    opj_set_info_handler(codec, ignoreMessage, nullptr);
    opj_set_warning_handler(codec, ignoreMessage, nullptr);
    opj_set_error_handler(codec, ignoreMessage, nullptr);
    opj_dparameters_t parameters;
    opj_set_default_decoder_parameters(&parameters);
    Source source{codestream.data(), codestream.size(), 0};
    opj_stream_t *stream = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);
    opj_stream_set_user_data(stream, &source, nullptr);
    opj_stream_set_user_data_length(stream, codestream.size());
    opj_stream_set_read_function(stream, readSource);
    opj_stream_set_skip_function(stream, skipSource);
    opj_stream_set_seek_function(stream, seekSource);
    opj_image_t *image = nullptr;
    OFCondition result = J2KDecodingFailed;
    if (opj_setup_decoder(codec, &parameters) && opj_read_header(stream, codec, &image) &&
        opj_decode(codec, stream, image) && opj_end_decompress(codec, stream)) {
        result = EC_Normal;
        if (image->numcomps != layout.samples || image->comps[0].w != layout.columns || image->comps[0].h != layout.rows)
            result = J2KMismatch;
        for (OPJ_UINT32 c = 0; result.good() && c < image->numcomps; ++c) {
            const opj_image_comp_t &comp = image->comps[c];
            if (comp.dx != 1 || comp.dy != 1 || comp.w != layout.columns || comp.h != layout.rows || comp.prec > 16 ||
                (comp.prec > 8 && layout.bitsAllocated == 8))
                result = J2KUnsupported;
        }
        if (result.good()) {
            const size_t pixels = size_t(layout.rows) * layout.columns;
            const size_t samples = layout.samples;
            for (size_t c = 0; c < samples; ++c) {
                const OPJ_INT32 *in = image->comps[c].data;
                // A code stream stored unsigned while the data set says signed (seen in the wild):
                // the data set wins, as in pydicom; values come out sign-extended from Bits Stored.
                const bool signExtend = layout.pixelRepresentation == 1 && !image->comps[c].sgnd &&
                                        layout.bitsStored > 0 && layout.bitsStored < 32;
                const OPJ_INT32 signBit = signExtend ? OPJ_INT32(1) << (layout.bitsStored - 1) : 0;
                auto value = [&](size_t p) -> OPJ_INT32 {
                    if (!signExtend) return in[p];
                    const OPJ_INT32 v = in[p] & ((signBit << 1) - 1);
                    return (v ^ signBit) - signBit;
                };
                if (layout.bitsAllocated == 8) {
                    for (size_t p = 0; p < pixels; ++p) buffer[p * samples + c] = static_cast<Uint8>(value(p));
                } else {
                    for (size_t p = 0; p < pixels; ++p) {
                        const Uint16 v = static_cast<Uint16>(value(p));
                        buffer[2 * (p * samples + c)] = static_cast<Uint8>(v);
                        buffer[2 * (p * samples + c) + 1] = static_cast<Uint8>(v >> 8);
                    }
                }
            }
        }
    }
    if (image != nullptr) opj_image_destroy(image);
    opj_stream_destroy(stream);
    opj_destroy_codec(codec);
    return result;
}

class J2KRepresentationParameter : public DcmRepresentationParameter {
public:
    DcmRepresentationParameter *clone() const override { return new J2KRepresentationParameter(*this); }
    const char *className() const override { return "LoupeJ2KRepresentationParameter"; }
    OFBool operator==(const DcmRepresentationParameter &other) const override {
        return strcmp(other.className(), className()) == 0;
    }
};

class J2KCodecParameter : public DcmCodecParameter {
public:
    DcmCodecParameter *clone() const override { return new J2KCodecParameter(*this); }
    const char *className() const override { return "LoupeJ2KCodecParameter"; }
};

class J2KDecoder : public DcmCodec {
public:
    OFCondition decode(const DcmRepresentationParameter *, DcmPixelSequence *sequence,
                       DcmPolymorphOBOW &uncompressed, const DcmCodecParameter *, const DcmStack &objStack,
                       OFBool &removeOldRep) const override {
        DcmStack stack(objStack);
        stack.pop();  // the pixel data element
        DcmObject *parent = stack.pop();
        if (parent == nullptr || (parent->ident() != EVR_dataset && parent->ident() != EVR_item)) return EC_InvalidTag;
        DcmItem *dataset = static_cast<DcmItem *>(parent);
        Layout layout;
        OFCondition cond = layout.read(dataset, sequence);
        if (cond.bad()) return cond;
        size_t total = layout.frameBytes() * static_cast<size_t>(layout.frames);
        if (total > 0xFFFFFFF0u) return EC_TooManyBytesRequested;
        total += total & 1;
        Uint16 *words = nullptr;
        cond = uncompressed.createUint16Array(static_cast<Uint32>(total / 2), words);
        if (cond.bad()) return cond;
        Uint8 *out = reinterpret_cast<Uint8 *>(words);
        if (total > layout.frameBytes() * static_cast<size_t>(layout.frames)) out[total - 1] = 0;
        std::vector<Uint8> codestream;
        for (Sint32 frame = 0; cond.good() && frame < layout.frames; ++frame) {
            cond = frameCodestream(sequence, layout.frames, static_cast<Uint32>(frame), codestream);
            if (cond.good()) cond = decodeCodestream(codestream, layout, out + layout.frameBytes() * frame);
        }
        if (cond.bad()) return cond;
        // The decoded data set describes what it now holds.
        if (layout.samples == 3) {
            cond = dataset->putAndInsertString(DCM_PhotometricInterpretation, layout.decodedColorModel().c_str());
            if (cond.good()) cond = dataset->putAndInsertUint16(DCM_PlanarConfiguration, 0);
        }
        removeOldRep = OFFalse;  // keep the compressed original: the stored file is never changed
        return cond;
    }

    OFCondition decodeFrame(const DcmRepresentationParameter *, DcmPixelSequence *sequence,
                            const DcmCodecParameter *, DcmItem *dataset, Uint32 frameNo, Uint32 &startFragment,
                            void *buffer, Uint32 bufferSize, OFString &decompressedColorModel) const override {
        Layout layout;
        OFCondition cond = layout.read(dataset, sequence);
        if (cond.bad()) return cond;
        if (frameNo >= static_cast<Uint32>(layout.frames)) return EC_IllegalCall;
        if (bufferSize < layout.frameBytes()) return EC_IllegalCall;
        std::vector<Uint8> codestream;
        cond = frameCodestream(sequence, layout.frames, frameNo, codestream);
        if (cond.good()) cond = decodeCodestream(codestream, layout, static_cast<Uint8 *>(buffer));
        if (cond.good()) {
            decompressedColorModel = layout.decodedColorModel();
            startFragment = 0;  // let the next call locate its frame
        }
        return cond;
    }

    OFCondition encode(const Uint16 *, const Uint32, const DcmRepresentationParameter *, DcmPixelSequence *&,
                       const DcmCodecParameter *, DcmStack &, OFBool &) const override {
        return EC_IllegalCall;  // decoder only
    }

    OFCondition encode(const E_TransferSyntax, const DcmRepresentationParameter *, DcmPixelSequence *,
                       const DcmRepresentationParameter *, DcmPixelSequence *&, const DcmCodecParameter *,
                       DcmStack &, OFBool &) const override {
        return EC_IllegalCall;
    }

    OFBool canChangeCoding(const E_TransferSyntax from, const E_TransferSyntax to) const override {
        return isJPEG2000(from) && DcmXfer(to).isNotEncapsulated();
    }

    OFCondition determineDecompressedColorModel(const DcmRepresentationParameter *, DcmPixelSequence *sequence,
                                                const DcmCodecParameter *, DcmItem *dataset,
                                                OFString &decompressedColorModel) const override {
        Layout layout;
        OFCondition cond = layout.read(dataset, sequence);
        if (cond.good()) decompressedColorModel = layout.decodedColorModel();
        return cond;
    }
};

} // namespace

void loupe::registerJPEG2000Decoder() {
    static J2KDecoder decoder;
    static J2KRepresentationParameter representation;
    static J2KCodecParameter parameter;
    DcmCodecList::registerCodec(&decoder, &representation, &parameter);
}
