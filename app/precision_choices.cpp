#include "app/precision_choices.h"

#include "core/engine/cpu.h"
#include "core/engine/precision_support.h"

namespace studio {

QList<PrecisionChoice> precisionChoices() {
    QList<PrecisionChoice> choices;
    for (const umt5::PrecisionSupport& s : umt5::precision_support())
        choices.append({QString::fromLatin1(umt5::precision_name(s.precision)), s.runs, QString::fromStdString(s.isa),
                        QString::fromStdString(s.kernel), QString::fromStdString(s.reason)});
    return choices;
}

PrecisionChoice precisionChoice(const QString& name) {
    for (const PrecisionChoice& choice : precisionChoices())
        if (choice.name == name)
            return choice;
    return {name, false, {}, {}, QStringLiteral("unknown precision \"%1\" (use fp32, bf16 or int8)").arg(name)};
}

QString cpuSummary() { return QString::fromStdString(umt5::cpu_summary()); }

}  // namespace studio
