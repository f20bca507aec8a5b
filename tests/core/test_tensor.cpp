// The tensor type: half-precision conversions (normal, subnormal, zero, infinity, NaN), rounding to BF16,
// shape arithmetic, and owned versus borrowed storage.
#include <QtTest>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "core/formats/tensor.h"

using namespace umt5;

namespace {

uint32_t bits_of(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}

float float_of(uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}

}  // namespace

class TestTensor : public QObject {
    Q_OBJECT

private slots:
    void f16ToF32_data();
    void f16ToF32();
    void bf16ToF32_data();
    void bf16ToF32();
    void f32ToBf16_data();
    void f32ToBf16();
    void nanStaysNan();
    void toF32Converts();
    void shapeNumel();
    void borrowedAndOwned();
    void sharedViewKeepsOwnerAndIsReadOnly();
    void rowToF32();
};

void TestTensor::f16ToF32_data() {
    QTest::addColumn<int>("half");
    QTest::addColumn<float>("expected");
    QTest::newRow("one") << 0x3c00 << 1.0f;
    QTest::newRow("minus two") << 0xc000 << -2.0f;
    QTest::newRow("one third") << 0x3555 << 0.333251953125f;
    QTest::newRow("largest") << 0x7bff << 65504.0f;
    QTest::newRow("smallest normal") << 0x0400 << std::ldexp(1.0f, -14);
    QTest::newRow("smallest subnormal") << 0x0001 << std::ldexp(1.0f, -24);
    QTest::newRow("largest subnormal") << 0x03ff << std::ldexp(1023.0f, -24);
    QTest::newRow("negative subnormal") << 0x8200 << -std::ldexp(1.0f, -15);
    QTest::newRow("zero") << 0x0000 << 0.0f;
    QTest::newRow("infinity") << 0x7c00 << std::numeric_limits<float>::infinity();
    QTest::newRow("minus infinity") << 0xfc00 << -std::numeric_limits<float>::infinity();
}

void TestTensor::f16ToF32() {
    QFETCH(int, half);
    QFETCH(float, expected);
    QCOMPARE(bits_of(f16_to_f32(static_cast<uint16_t>(half))), bits_of(expected));
}

void TestTensor::bf16ToF32_data() {
    QTest::addColumn<int>("half");
    QTest::addColumn<float>("expected");
    QTest::newRow("one") << 0x3f80 << 1.0f;
    QTest::newRow("minus five") << 0xc0a0 << -5.0f;
    QTest::newRow("pi-ish") << 0x4049 << 3.140625f;
    QTest::newRow("smallest subnormal") << 0x0001 << std::ldexp(1.0f, -133);
    QTest::newRow("largest") << 0x7f7f << float_of(0x7f7f0000u);
    QTest::newRow("minus zero") << 0x8000 << -0.0f;
    QTest::newRow("infinity") << 0x7f80 << std::numeric_limits<float>::infinity();
    QTest::newRow("minus infinity") << 0xff80 << -std::numeric_limits<float>::infinity();
}

void TestTensor::bf16ToF32() {
    QFETCH(int, half);
    QFETCH(float, expected);
    QCOMPARE(bits_of(bf16_to_f32(static_cast<uint16_t>(half))), bits_of(expected));
}

void TestTensor::f32ToBf16_data() {
    QTest::addColumn<float>("value");
    QTest::addColumn<int>("expected");
    QTest::newRow("exact") << 1.0f << 0x3f80;
    QTest::newRow("rounds down") << float_of(0x3f807fffu) << 0x3f80;
    QTest::newRow("rounds up") << float_of(0x3f808001u) << 0x3f81;
    QTest::newRow("tie to even (down)") << float_of(0x3f808000u) << 0x3f80;
    QTest::newRow("tie to even (up)") << float_of(0x3f818000u) << 0x3f82;
    QTest::newRow("negative") << -3.0f << 0xc040;
    QTest::newRow("overflows to infinity") << std::numeric_limits<float>::max() << 0x7f80;
    QTest::newRow("infinity") << -std::numeric_limits<float>::infinity() << 0xff80;
    QTest::newRow("subnormal") << std::ldexp(1.0f, -133) << 0x0001;
}

void TestTensor::f32ToBf16() {
    QFETCH(float, value);
    QFETCH(int, expected);
    QCOMPARE(int(f32_to_bf16(value)), expected);
}

void TestTensor::nanStaysNan() {
    QVERIFY(std::isnan(f16_to_f32(0x7e00)));
    QVERIFY(std::isnan(f16_to_f32(0xfc01)));
    QVERIFY(std::isnan(bf16_to_f32(0x7fc0)));
    // A NaN whose payload sits only in the low 16 bits must not round to infinity.
    const uint16_t low_payload_nan = f32_to_bf16(float_of(0x7f800001u));
    QVERIFY(std::isnan(bf16_to_f32(low_payload_nan)));
    QVERIFY(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

void TestTensor::toF32Converts() {
    Tensor half({3}, DType::F16);
    const uint16_t h[] = {0x3c00, 0x0001, 0xfc00};
    std::memcpy(half.raw(), h, sizeof h);
    const Tensor f = half.to_f32();
    QCOMPARE(f.dtype(), DType::F32);
    QCOMPARE(f.shape(), (Shape{3}));
    QCOMPARE(f.data<float>()[0], 1.0f);
    QCOMPARE(f.data<float>()[1], std::ldexp(1.0f, -24));
    QVERIFY(std::isinf(f.data<float>()[2]) && f.data<float>()[2] < 0);

    Tensor ints({2}, DType::I64);
    bool threw = false;
    try {
        ints.to_f32();
    } catch (const Error& e) {
        threw = std::string(e.what()) == "cannot convert a I64 tensor to F32";
    }
    QVERIFY(threw);
    QVERIFY_THROWS_EXCEPTION(Error, ints.data<float>());  // wrong element size
}

void TestTensor::shapeNumel() {
    QCOMPARE(shape_numel({}), int64_t(1));
    QCOMPARE(shape_numel({3, 0, 5}), int64_t(0));
    QCOMPARE(shape_numel({3, 16, 64}), int64_t(3072));
    QCOMPARE(shape_string({3, 16, 64}), std::string("[3, 16, 64]"));
    QVERIFY_THROWS_EXCEPTION(Error, shape_numel({2, -1}));
    QVERIFY_THROWS_EXCEPTION(Error, shape_numel({int64_t(1) << 32, int64_t(1) << 32}));
    QCOMPARE(shape_numel({0, int64_t(1) << 62, int64_t(1) << 62}), int64_t(0));
}

void TestTensor::borrowedAndOwned() {
    float values[6] = {1, 2, 3, 4, 5, 6};
    const Tensor borrowed = Tensor::borrow(values, {2, 3}, DType::F32);
    QVERIFY(!borrowed.owns_storage());
    QCOMPARE(borrowed.data<float>(), static_cast<const float*>(values));
    QCOMPARE(borrowed.dim(-1), int64_t(3));
    const Tensor copy = borrowed.clone();
    QVERIFY(copy.owns_storage());
    values[0] = 42;
    QCOMPARE(copy.data<float>()[0], 1.0f);
    QCOMPARE(borrowed.reshaped({3, 2}).data<float>()[0], 42.0f);
    QVERIFY_THROWS_EXCEPTION(Error, borrowed.reshaped({4, 2}));
    QVERIFY_THROWS_EXCEPTION(Error, borrowed.dim(2));
    const Tensor zeros({4}, DType::F32);
    QCOMPARE(reinterpret_cast<uintptr_t>(zeros.raw()) % 64, uintptr_t(0));
    QCOMPARE(zeros.data<float>()[3], 0.0f);
}

void TestTensor::sharedViewKeepsOwnerAndIsReadOnly() {
    std::weak_ptr<const void> watch;
    Tensor view;
    {
        auto values = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4, 5, 6});
        watch = values;
        view = Tensor::view(values->data(), {2, 3}, DType::F32, values);
    }
    QVERIFY(!watch.expired());  // the view holds the owner
    QVERIFY(view.is_shared_view());
    QVERIFY(!view.owns_storage());
    const Tensor reshaped = view.reshaped({3, 2});
    QVERIFY(reshaped.is_shared_view());
    QCOMPARE(std::as_const(view).data<float>()[5], 6.0f);
    // The memory may be a read-only mapping: the mutable accessors refuse, a clone is owned and writable.
    QVERIFY_THROWS_EXCEPTION(Error, view.data<float>());
    QVERIFY_THROWS_EXCEPTION(Error, view.raw());
    Tensor copy = view.clone();
    QVERIFY(copy.owns_storage() && !copy.is_shared_view());
    copy.data<float>()[0] = 7;
    QCOMPARE(std::as_const(view).data<float>()[0], 1.0f);
    QCOMPARE(view.to_f32().data<float>()[1], 2.0f);
    view = Tensor();
    QVERIFY(!watch.expired());  // `reshaped` still refers to it
    QVERIFY_THROWS_EXCEPTION(Error, Tensor::view(nullptr, {0}, DType::F32, nullptr));
}

void TestTensor::rowToF32() {
    const float values[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.5f, 1e-3f};
    float row[3] = {};
    const Tensor f32 = Tensor::borrow(values, {2, 3}, DType::F32);
    row_to_f32(f32, 1, row);
    QCOMPARE(std::memcmp(row, values + 3, sizeof row), 0);  // copied bit for bit
    Tensor bf16({2, 3}, DType::BF16);
    Tensor f16({2, 3}, DType::F16);
    const uint16_t halves[6] = {0x3c00, 0xc000, 0x4280, 0x0000, 0xb800, 0x3c00};  // F16 1, -2, 3.25, 0, -0.5, 1
    for (int i = 0; i < 6; ++i) {
        bf16.data<uint16_t>()[i] = f32_to_bf16(values[i]);
        f16.data<uint16_t>()[i] = halves[i];
    }
    row_to_f32(bf16, 0, row);
    QCOMPARE(row[0], 1.5f);
    QCOMPARE(row[1], -2.0f);
    QCOMPARE(row[2], 3.25f);
    row_to_f32(f16, 1, row);
    QCOMPARE(row[0], 0.0f);
    QCOMPARE(row[1], -0.5f);
    QCOMPARE(row[2], 1.0f);
    QVERIFY_THROWS_EXCEPTION(Error, row_to_f32(f32, 2, row));
    QVERIFY_THROWS_EXCEPTION(Error, row_to_f32(f32, -1, row));
    QVERIFY_THROWS_EXCEPTION(Error, row_to_f32(f32.reshaped({6}), 0, row));
    QVERIFY_THROWS_EXCEPTION(Error, row_to_f32(Tensor({2, 3}, DType::I32), 0, row));
}

QTEST_APPLESS_MAIN(TestTensor)
#include "test_tensor.moc"
