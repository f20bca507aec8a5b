#include "core/formats/tokenizer.h"

#include "core/formats/error.h"
#include "core/formats/input_file.h"

#include <sentencepiece_processor.h>

#include <algorithm>

namespace umt5 {

namespace {

// Status messages can span lines; the core's errors are one line.
std::string one_line(std::string text) {
    std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
}

[[noreturn]] void fail_load(const std::filesystem::path& file, const std::string& reason) {
    throw Error(file.string() + ": cannot load the sentencepiece model (" + one_line(reason) + ")");
}

// Length of the UTF-8 sequence that starts with `lead`, 0 when no well-formed sequence starts with it.
int sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

// Whether `second` may follow `lead`; the tighter ranges exclude overlongs, surrogates and code points past
// U+10FFFF.
bool second_byte_ok(unsigned char lead, unsigned char second) {
    switch (lead) {
    case 0xE0: return second >= 0xA0 && second <= 0xBF;
    case 0xED: return second >= 0x80 && second <= 0x9F;
    case 0xF0: return second >= 0x90 && second <= 0xBF;
    case 0xF4: return second >= 0x80 && second <= 0x8F;
    default: return second >= 0x80 && second <= 0xBF;
    }
}

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// Whether bytes[0..count) are a proper prefix of some well-formed multi-byte sequence.
bool is_incomplete_sequence(const unsigned char* bytes, size_t count) {
    const int length = sequence_length(bytes[0]);
    if (length < 2 || count >= static_cast<size_t>(length)) return false;
    if (count >= 2 && !second_byte_ok(bytes[0], bytes[1])) return false;
    for (size_t i = 2; i < count; ++i)
        if (!is_continuation(bytes[i])) return false;
    return true;
}

// A cursor over protobuf wire-format bytes; every read is bounds-checked.
struct WireReader {
    const unsigned char* p;
    const unsigned char* end;

    bool done() const { return p == end; }
    bool varint(uint64_t& out) {
        out = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p == end) return false;
            const unsigned char byte = *p++;
            out |= uint64_t{byte & 0x7fu} << shift;
            if (!(byte & 0x80)) return true;
        }
        return false;
    }
    // Skips the value of a field of wire type `type`; for length-delimited ones, returns it in `body`.
    bool value(uint64_t type, WireReader* body = nullptr) {
        uint64_t n = 0;
        switch (type) {
        case 0: return varint(n);
        case 1: n = 8; break;
        case 5: n = 4; break;
        case 2:
            if (!varint(n)) return false;
            break;
        default: return false;  // groups (3, 4) are not in sentencepiece's schema; 6 and 7 do not exist
        }
        if (n > static_cast<uint64_t>(end - p)) return false;
        if (body) *body = {p, p + n};
        p += n;
        return true;
    }
};

}  // namespace

void check_sentencepiece_model(const std::string& serialized, const std::string& origin) {
    auto fail = [&](const std::string& reason) {
        throw Error(origin + ": cannot load the sentencepiece model (" + reason + ")");
    };
    const auto* bytes = reinterpret_cast<const unsigned char*>(serialized.data());
    WireReader model{bytes, bytes + serialized.size()};
    size_t pieces = 0;
    while (!model.done()) {
        uint64_t key = 0;
        if (!model.varint(key) || (key >> 3) == 0) fail("not a sentencepiece model file");
        WireReader piece{nullptr, nullptr};
        if (!model.value(key & 7, &piece)) fail("not a sentencepiece model file");
        if (key != ((1u << 3) | 2)) continue;  // field 1 of ModelProto, length-delimited: one SentencePiece
        if (++pieces > kMaxPieces) fail("more than " + std::to_string(kMaxPieces) + " pieces");
        while (!piece.done()) {
            uint64_t piece_key = 0;
            WireReader text{nullptr, nullptr};
            if (!piece.varint(piece_key) || (piece_key >> 3) == 0 || !piece.value(piece_key & 7, &text))
                fail("not a sentencepiece model file");
            const auto length = static_cast<size_t>(text.end - text.p);
            if (piece_key == ((1u << 3) | 2) && length > kMaxPieceBytes)  // field 1: the piece's text
                fail("piece " + std::to_string(pieces - 1) + " is " + std::to_string(length) +
                     " bytes long; the limit is " + std::to_string(kMaxPieceBytes));
        }
    }
    if (pieces == 0) fail("the model has no pieces");
}

size_t utf8_error_offset(const std::string& text) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    const size_t size = text.size();
    size_t i = 0;
    while (i < size) {
        const int length = sequence_length(bytes[i]);
        if (length == 0) return i;
        if (length > 1) {
            if (i + length > size) return i;
            if (!second_byte_ok(bytes[i], bytes[i + 1])) return i;
            for (int k = 2; k < length; ++k)
                if (!is_continuation(bytes[i + k])) return i;
        }
        i += length;
    }
    return std::string::npos;
}

bool is_valid_utf8(const std::string& text) { return utf8_error_offset(text) == std::string::npos; }

struct Tokenizer::Impl {
    sentencepiece::SentencePieceProcessor processor;
};

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::load(const std::filesystem::path& model_file) {
    // Read the file ourselves: sentencepiece's own reader reports a directory by throwing from deep inside, and
    // would block on a FIFO or read /dev/zero until memory runs out.
    const std::string serialized = read_input_file(model_file, InputKind::tokenizer);
    if (serialized.empty()) fail_load(model_file, "the file is empty");
    check_sentencepiece_model(serialized, model_file.string());

    Tokenizer tokenizer;
    tokenizer.impl_ = std::make_unique<Impl>();
    const auto status = tokenizer.impl_->processor.LoadFromSerializedProto(serialized);
    if (!status.ok()) {
        // A parse failure reports a source location and an expression; say what it means instead.
        const std::string message = status.message();
        const bool parse_failure = message.find("ParseFromArray") != std::string::npos;
        fail_load(model_file, parse_failure ? "not a sentencepiece model file" : message);
    }
    if (tokenizer.piece_count() <= 0) fail_load(model_file, "the model has no pieces");
    return tokenizer;
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
    const size_t bad = utf8_error_offset(text);
    if (bad != std::string::npos) throw Error("prompt is not valid UTF-8 (byte " + std::to_string(bad) + ")");
    if (!impl_) throw Error("no tokenizer is loaded");
    std::vector<int> ids;
    const auto status = impl_->processor.Encode(text, &ids);
    if (!status.ok()) throw Error("cannot tokenize the prompt (" + one_line(status.message()) + ")");
    return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
    if (!impl_) return {};
    std::vector<int> kept;
    kept.reserve(ids.size());
    for (int id : ids)
        if (!is_silent(id)) kept.push_back(id);
    std::string text;
    const auto status = impl_->processor.Decode(kept, &text);
    if (!status.ok()) throw Error("cannot decode token ids (" + one_line(status.message()) + ")");
    return text;
}

int Tokenizer::piece_count() const { return impl_ ? impl_->processor.GetPieceSize() : 0; }

std::string Tokenizer::id_to_piece(int id) const {
    if (id < 0 || id >= piece_count()) return {};
    return impl_->processor.IdToPiece(id);
}

int Tokenizer::eos_id() const { return impl_ ? impl_->processor.eos_id() : -1; }

bool Tokenizer::is_byte_piece(int id) const {
    return id >= 0 && id < piece_count() && impl_->processor.IsByte(id);
}

int Tokenizer::byte_value(int id) const {
    if (!is_byte_piece(id)) return -1;
    // Byte pieces are spelled <0xHH>.
    const std::string piece = impl_->processor.IdToPiece(id);
    if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
    return std::stoi(piece.substr(3, 2), nullptr, 16);
}

bool Tokenizer::is_silent(int id) const {
    return id < 0 || id >= piece_count() || impl_->processor.IsControl(id);
}

std::string Tokenizer::decode_complete(const std::vector<int>& ids) const {
    const size_t held = incomplete_tail(ids);
    if (held == 0) return decode(ids);
    return decode(std::vector<int>(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(held)));
}

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

size_t Tokenizer::incomplete_tail(const std::vector<int>& ids) const {
    // A UTF-8 character is at most 4 bytes, so only the last 3 ids can hold an unfinished one.
    unsigned char bytes[3];
    size_t count = 0;
    while (count < 3 && count < ids.size()) {
        const int value = byte_value(ids[ids.size() - 1 - count]);
        if (value < 0) break;
        bytes[2 - count] = static_cast<unsigned char>(value);
        ++count;
    }
    // The unfinished character starts at the last byte that is not a continuation byte.
    for (size_t length = 1; length <= count; ++length) {
        const unsigned char* start = bytes + 3 - length;
        if (is_continuation(*start)) continue;
        return is_incomplete_sequence(start, length) ? length : 0;
    }
    return 0;
}

std::string StreamingDecoder::push(int id) {
    if (tokenizer_->is_silent(id)) return {};
    ids_.push_back(id);
    const size_t held = tokenizer_->incomplete_tail(ids_);
    if (held > 1) return {};  // the id only extended a character that is still unfinished
    const std::string text =
        held == 0 ? tokenizer_->decode(ids_) : tokenizer_->decode(std::vector<int>(ids_.begin(), ids_.end() - 1));
    // Decoding is prefix-stable once unfinished bytes are held back; should it ever not be, wait until the text
    // agrees with what was already emitted again.
    if (text.size() < emitted_.size() || text.compare(0, emitted_.size(), emitted_) != 0) return {};
    std::string increment = text.substr(emitted_.size());
    emitted_ = text;
    return increment;
}

std::string StreamingDecoder::flush() {
    const std::string text = tokenizer_->decode(ids_);
    size_t common = 0;
    while (common < text.size() && common < emitted_.size() && text[common] == emitted_[common]) ++common;
    // Cut at a character boundary so the rest is valid UTF-8 on its own.
    while (common > 0 && common < text.size() && is_continuation(static_cast<unsigned char>(text[common])))
        --common;
    std::string rest = text.substr(common);
    reset();
    return rest;
}

void StreamingDecoder::reset() {
    ids_.clear();
    emitted_.clear();
}

std::string utf8_prefix(const std::string& text, size_t max_bytes) {
    if (text.size() <= max_bytes) return text;
    size_t cut = max_bytes;
    while (cut > 0 && is_continuation(static_cast<unsigned char>(text[cut]))) --cut;
    return text.substr(0, cut);
}

}  // namespace umt5
