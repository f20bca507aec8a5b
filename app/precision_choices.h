#pragma once
// The weight precisions as the app offers them: which run on this CPU, on what, and why not
// (core/engine/precision_support.h, probed once per process and cached, so the GUI thread may ask).
#include <QList>
#include <QString>

namespace studio {

struct PrecisionChoice {
    QString name;    // "fp32", "bf16", "int8": the value GenerationSettings::precision takes
    bool runs = false;
    QString isa;     // e.g. "avx512_core_amx"
    QString kernel;  // e.g. "brg:avx512_core_amx"
    QString reason;  // when it does not run: "bf16 needs a CPU with AVX-512 ...; this one has AVX2"
};

// fp32, bf16 and int8, in that order.
QList<PrecisionChoice> precisionChoices();
// The choice named `name`; one that does not run (with a reason) for an unknown name.
PrecisionChoice precisionChoice(const QString& name);
// One line for the About box and messages: "<model>; AVX2 FMA ...; kernels up to avx2".
QString cpuSummary();

}  // namespace studio
