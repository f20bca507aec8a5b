// umt5-studio: the desktop app. Parses the command line, starts the Controller (and its worker thread), loads the
// model and the saved conversations, and shows the main window.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QTimer>

#include <cstdio>

#include "app/controller.h"
#include "ui/benchmark_panel.h"
#include "ui/main_window.h"

namespace {

// --screenshot: answers the --prompt texts one after another, then saves the window as an image and quits.
void scheduleScreenshot(studio::MainWindow& window, studio::Controller& controller, QStringList prompts,
                        const QString& file) {
    auto next = std::make_shared<std::function<void()>>();
    *next = [&window, &controller, prompts, file, next]() mutable {
        if (!prompts.isEmpty() && controller.hasModel()) {
            window.submitPrompt(prompts.takeFirst());
            return;
        }
        QTimer::singleShot(300, &window, [&window, file] {
            const bool ok = window.grab().save(file);
            std::fprintf(ok ? stdout : stderr, "%s %s\n", ok ? "saved" : "could not save", qPrintable(file));
            QApplication::exit(ok ? 0 : 1);
        });
    };
    QObject::connect(&window, &studio::MainWindow::answerShown, &window, [next] { (*next)(); });
    QObject::connect(&controller, &studio::Controller::modelLoaded, &window, [next] { (*next)(); });
    QObject::connect(&controller, &studio::Controller::modelLoadFailed, &window, [] { QApplication::exit(1); });
}

// --benchmark-screenshot: runs Tools › Benchmark on the --prompt text once the model is loaded, saves the benchmark
// window to <file> and quits (for the README's screenshot).
void scheduleBenchmarkScreenshot(studio::MainWindow& window, studio::Controller& controller, const QString& prompt,
                                 int newTokens, int repeats, const QString& file) {
    QObject::connect(&controller, &studio::Controller::modelLoaded, &window, [&window, prompt, newTokens, repeats,
                                                                               file] {
        window.showBenchmark();
        studio::BenchmarkPanel* panel = window.benchmarkPanel();
        if (!prompt.isEmpty())
            panel->setPrompt(prompt);
        panel->setNewTokens(newTokens);
        panel->setRepeats(repeats);
        QObject::connect(panel, &studio::BenchmarkPanel::finished, panel, [panel, file] {
            QTimer::singleShot(300, panel, [panel, file] {
                const bool ok = panel->window()->grab().save(file);
                std::fprintf(ok ? stdout : stderr, "%s %s\n", ok ? "saved" : "could not save", qPrintable(file));
                QApplication::exit(ok ? 0 : 1);
            });
        });
        QObject::connect(panel, &studio::BenchmarkPanel::stopped, panel, [](const QString& message) {
            std::fprintf(stderr, "benchmark stopped: %s\n", qPrintable(message));
            QApplication::exit(1);
        });
        panel->run();
    }, Qt::SingleShotConnection);
    QObject::connect(&controller, &studio::Controller::modelLoadFailed, &window, [] { QApplication::exit(1); });
}

}  // namespace

int main(int argc, char** argv) {
    // --help and --version print and quit: they must work without a display, where Qt's default platform
    // would abort before the options are even parsed.
    const bool no_display = qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY");
    if (no_display && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        for (int i = 1; i < argc; ++i) {
            const QByteArray arg(argv[i]);
            if (arg == "--help" || arg == "-h" || arg == "--help-all" || arg == "--version" || arg == "-v")
                qputenv("QT_QPA_PLATFORM", "offscreen");
        }
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("umt5-studio"));
    QApplication::setApplicationVersion(QStringLiteral(UMT5_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("io.github.umt5studio.Studio"));  // packaging/*.desktop

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Run umT5 encoder-decoder models locally on the CPU."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption modelOption(QStringLiteral("model"), QStringLiteral("Load the model in <dir>."),
                                         QStringLiteral("dir"));
    const QCommandLineOption dataOption(
        QStringLiteral("data-dir"),
        QStringLiteral("Keep settings and conversations in <dir> (default: $UMT5_STUDIO_DATA_DIR or %1).")
            .arg(QDir::toNativeSeparators(studio::Controller::defaultDataDir())),
        QStringLiteral("dir"));
    const QCommandLineOption screenshotOption(
        QStringLiteral("screenshot"), QStringLiteral("Answer the --prompt texts, save the window to <file>, quit."),
        QStringLiteral("file"));
    const QCommandLineOption promptOption(QStringLiteral("prompt"),
                                          QStringLiteral("A prompt to send at start (repeatable)."),
                                          QStringLiteral("text"));
    parser.addOptions({modelOption, dataOption, screenshotOption, promptOption});
    QCommandLineOption benchmarkScreenshotOption(QStringLiteral("benchmark-screenshot"),
                                                 QStringLiteral("Benchmark the --prompt text, save the panel to <file>."),
                                                 QStringLiteral("file"));
    benchmarkScreenshotOption.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption benchmarkTokensOption(QStringLiteral("benchmark-tokens"),
                                             QStringLiteral("New tokens for --benchmark-screenshot."),
                                             QStringLiteral("count"), QStringLiteral("128"));
    benchmarkTokensOption.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption benchmarkRepeatsOption(QStringLiteral("benchmark-repeats"),
                                              QStringLiteral("Runs per mode for --benchmark-screenshot."),
                                              QStringLiteral("count"), QStringLiteral("1"));
    benchmarkRepeatsOption.setFlags(QCommandLineOption::HiddenFromHelp);
    parser.addOptions({benchmarkScreenshotOption, benchmarkTokensOption, benchmarkRepeatsOption});
    parser.process(app);

    const QString dataDir = parser.isSet(dataOption) ? parser.value(dataOption) : studio::Controller::defaultDataDir();
    if (!QDir().mkpath(dataDir)) {
        std::fprintf(stderr, "umt5-studio: cannot create the data directory %s\n", qPrintable(dataDir));
        return 2;
    }

    studio::Controller controller(dataDir);
    studio::MainWindow window(controller);
    controller.loadStartupModel(parser.isSet(modelOption) ? parser.value(modelOption) : controller.startupModel());
    controller.restoreConversations();

    QStringList prompts = parser.values(promptOption);
    if (parser.isSet(benchmarkScreenshotOption)) {
        scheduleBenchmarkScreenshot(window, controller, prompts.join(QLatin1Char('\n')),
                                    parser.value(benchmarkTokensOption).toInt(),
                                    parser.value(benchmarkRepeatsOption).toInt(),
                                    QFileInfo(parser.value(benchmarkScreenshotOption)).absoluteFilePath());
    } else if (parser.isSet(screenshotOption)) {
        // A fresh conversation so the screenshot shows only these prompts.
        window.setCurrentConversation(controller.newConversation());
        window.resize(1200, 760);
        scheduleScreenshot(window, controller, prompts, QFileInfo(parser.value(screenshotOption)).absoluteFilePath());
    } else if (!prompts.isEmpty()) {
        QObject::connect(&controller, &studio::Controller::modelLoaded, &window, [&window, prompts] {
            window.submitPrompt(prompts.join(QLatin1Char('\n')));
        }, Qt::SingleShotConnection);
    }
    window.show();
    return app.exec();
}
