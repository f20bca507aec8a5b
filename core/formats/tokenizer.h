#pragma once
// Tokenization through the sentencepiece library, and streaming detokenization that only ever emits complete
// UTF-8 text.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace umt5 {

// Limits on spiece.model checked before sentencepiece parses it: a piece of 200,000 characters overflowed
// sentencepiece's stack while loading (SIGSEGV) and long pieces take minutes to load; real models are far below
// (umT5's longest piece is 16 bytes, its 256,300 pieces the most of any T5 model).
constexpr size_t kMaxPieceBytes = 1024;
constexpr size_t kMaxPieces = 4'000'000;  // ModelConfig's largest vocab_size

// Walks the protobuf wire format of a serialized sentencepiece ModelProto and throws umt5::Error
// "ORIGIN: cannot load the sentencepiece model (...)" when it is malformed or a piece or the piece count is
// over the limits above. Tokenizer::load calls it; exposed for the fuzzers.
void check_sentencepiece_model(const std::string& serialized, const std::string& origin);

class Tokenizer {
public:
    // Loads spiece.model; throws umt5::Error naming the file when it is missing or corrupt.
    static Tokenizer load(const std::filesystem::path& model_file);

    Tokenizer();
    ~Tokenizer();
    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;

    // Sentencepiece ids of `text` WITHOUT the trailing eos. Throws umt5::Error on invalid UTF-8.
    std::vector<int> encode(const std::string& text) const;
    // Text of `ids`; ids at or past piece_count() (umT5 pads its vocabulary) and control ids decode to nothing.
    std::string decode(const std::vector<int>& ids) const;
    // decode() without the byte pieces at the very end that form an incomplete UTF-8 character (an answer cut by a
    // limit mid-character), which decode() would turn into U+FFFD.
    std::string decode_complete(const std::vector<int>& ids) const;
    // How many ids at the end of `ids` are byte pieces forming an incomplete UTF-8 character (0..3).
    size_t incomplete_tail(const std::vector<int>& ids) const;
    int piece_count() const;
    std::string id_to_piece(int id) const;  // "" for ids out of range
    int eos_id() const;                     // 1 for T5 models
    bool is_byte_piece(int id) const;       // pieces like <0xE3>
    int byte_value(int id) const;           // 0..255 for byte pieces, -1 for every other id
    // True for ids that decode() drops: out of range, pad, eos and other control pieces.
    bool is_silent(int id) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Turns a stream of generated ids into text increments. Byte-fallback pieces are held back until the UTF-8
// character they encode is complete, so every string returned is valid UTF-8 and the concatenation of all
// increments plus flush() equals tokenizer.decode(all ids).
class StreamingDecoder {
public:
    explicit StreamingDecoder(const Tokenizer& tokenizer);
    // Text that became complete with this id ("" if nothing did yet).
    std::string push(int id);
    // Whatever is still held back (an incomplete byte sequence decodes as the tokenizer decodes it). Ends the
    // stream: the decoder starts over as after reset().
    std::string flush();
    void reset();

private:
    const Tokenizer* tokenizer_;
    std::vector<int> ids_;
    std::string emitted_;
};

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool is_valid_utf8(const std::string& text);
// Offset of the first byte where `text` stops being well-formed UTF-8, or std::string::npos when it is valid.
size_t utf8_error_offset(const std::string& text);
// The longest prefix of `text` of at most `max_bytes` bytes that does not split a UTF-8 character.
std::string utf8_prefix(const std::string& text, size_t max_bytes);

}  // namespace umt5
