#include "ui/conversation_list.h"

#include <QAction>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMessageBox>
#include <QStyle>
#include <QToolButton>
#include <QVBoxLayout>

namespace studio {

namespace {

constexpr int kIdRole = Qt::UserRole + 1;

QString displayTitle(const ConversationView& view) {
    return view.title.isEmpty() ? QObject::tr("New conversation") : view.title;
}

}  // namespace

ConversationList::ConversationList(Controller& controller, QWidget* parent) : QWidget(parent), controller_(controller) {
    setObjectName(QStringLiteral("conversationList"));
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);

    search_ = new QLineEdit(this);
    search_->setObjectName(QStringLiteral("conversationSearch"));
    search_->setPlaceholderText(tr("Search conversations"));
    search_->setClearButtonEnabled(true);
    layout->addWidget(search_);

    list_ = new QListWidget(this);
    list_->setObjectName(QStringLiteral("conversationItems"));
    list_->setContextMenuPolicy(Qt::CustomContextMenu);
    list_->setUniformItemSizes(true);
    list_->setSpacing(2);
    list_->setTextElideMode(Qt::ElideRight);
    list_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    list_->setAccessibleName(tr("Conversations"));
    layout->addWidget(list_, 1);

    auto* buttons = new QHBoxLayout;
    auto makeButton = [this, buttons](const QString& text, const QString& tip, const QString& name) {
        auto* button = new QToolButton(this);
        button->setObjectName(name);
        button->setText(text);
        button->setToolTip(tip);
        button->setAutoRaise(true);
        buttons->addWidget(button);
        return button;
    };
    QToolButton* add = makeButton(tr("New"), tr("New conversation (Ctrl+N)"), QStringLiteral("conversationNew"));
    rename_ = makeButton(tr("Rename"), tr("Rename the conversation (F2)"), QStringLiteral("conversationRename"));
    delete_ = makeButton(tr("Delete"), tr("Delete the conversation"), QStringLiteral("conversationDelete"));
    buttons->addStretch(1);
    layout->addLayout(buttons);

    // Controller order is newest first and addItem() inserts on top: fill from the oldest.
    for (auto it = controller_.conversations().crbegin(); it != controller_.conversations().crend(); ++it)
        addItem(it->id);

    connect(add, &QToolButton::clicked, this, &ConversationList::newRequested);
    connect(rename_, &QToolButton::clicked, this, [this] { renameInteractively(currentId()); });
    connect(delete_, &QToolButton::clicked, this, [this] { deleteInteractively(currentId()); });
    connect(search_, &QLineEdit::textChanged, this, &ConversationList::applyFilter);
    connect(list_, &QListWidget::customContextMenuRequested, this, &ConversationList::showMenu);
    connect(list_, &QListWidget::currentItemChanged, this, [this](QListWidgetItem* current) {
        rename_->setEnabled(current);
        delete_->setEnabled(current);
        emit currentChanged(current ? current->data(kIdRole).toString() : QString());
    });
    connect(list_, &QListWidget::itemDoubleClicked, this,
            [this](QListWidgetItem* item) { renameInteractively(item->data(kIdRole).toString()); });

    connect(&controller_, &Controller::conversationAdded, this, &ConversationList::addItem);
    connect(&controller_, &Controller::conversationRenamed, this, &ConversationList::refreshItem);
    connect(&controller_, &Controller::transcriptChanged, this, &ConversationList::refreshItem);
    connect(&controller_, &Controller::generationStarted, this, &ConversationList::refreshItem);
    connect(&controller_, &Controller::conversationRemoved, this, [this](const QString& id) {
        delete item(id);
    });
    rename_->setEnabled(false);
    delete_->setEnabled(false);
}

QString ConversationList::currentId() const {
    QListWidgetItem* current = list_->currentItem();
    return current ? current->data(kIdRole).toString() : QString();
}

void ConversationList::setCurrentId(const QString& id) {
    if (QListWidgetItem* it = item(id)) {
        if (it->isHidden())
            search_->clear();
        list_->setCurrentItem(it);
        list_->scrollToItem(it);
    }
}

QListWidgetItem* ConversationList::item(const QString& id) const {
    for (int row = 0; row < list_->count(); ++row)
        if (list_->item(row)->data(kIdRole).toString() == id)
            return list_->item(row);
    return nullptr;
}

void ConversationList::addItem(const QString& id) {
    if (item(id))
        return;
    auto* it = new QListWidgetItem;
    it->setData(kIdRole, id);
    list_->insertItem(0, it);
    refreshItem(id);
    applyFilter();
}

void ConversationList::refreshItem(const QString& id) {
    QListWidgetItem* it = item(id);
    const ConversationView* view = controller_.conversation(id);
    if (!it || !view)
        return;
    const bool busy = view->pending > 0;
    it->setText(displayTitle(*view));
    it->setIcon(busy ? style()->standardIcon(QStyle::SP_BrowserReload) : QIcon());
    QString tip = displayTitle(*view);
    tip += QLatin1Char('\n') + tr("%n turn(s)", nullptr, int(view->turns.size()));
    if (view->carryContext)
        tip += QLatin1Char('\n') + tr("Carries earlier turns as context");
    it->setToolTip(tip);
    applyFilter();
}

void ConversationList::applyFilter() {
    const QString needle = search_->text().trimmed();
    for (int row = 0; row < list_->count(); ++row) {
        QListWidgetItem* it = list_->item(row);
        bool match = needle.isEmpty();
        if (!match) {
            if (const ConversationView* view = controller_.conversation(it->data(kIdRole).toString())) {
                match = displayTitle(*view).contains(needle, Qt::CaseInsensitive);
                for (int i = 0; !match && i < view->turns.size(); ++i)
                    match = view->turns[i].prompt.contains(needle, Qt::CaseInsensitive) ||
                            view->turns[i].answer.contains(needle, Qt::CaseInsensitive);
            }
        }
        it->setHidden(!match);
    }
}

void ConversationList::renameInteractively(const QString& id) {
    const ConversationView* view = controller_.conversation(id);
    if (!view)
        return;
    bool ok = false;
    const QString title = QInputDialog::getText(this, tr("Rename Conversation"), tr("Title:"), QLineEdit::Normal,
                                                view->title, &ok);
    if (ok)
        controller_.renameConversation(id, title);
}

void ConversationList::deleteInteractively(const QString& id) {
    const ConversationView* view = controller_.conversation(id);
    if (!view)
        return;
    const auto answer = QMessageBox::question(
        this, tr("Delete Conversation"),
        tr("Delete “%1”? Its saved transcript is removed too.").arg(displayTitle(*view).toHtmlEscaped()),
        QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
    if (answer == QMessageBox::Yes)
        controller_.deleteConversation(id);
}

void ConversationList::showMenu(const QPoint& pos) {
    QListWidgetItem* it = list_->itemAt(pos);
    QMenu menu(this);
    menu.addAction(tr("&New Conversation"), this, &ConversationList::newRequested);
    if (it) {
        const QString id = it->data(kIdRole).toString();
        const ConversationView* view = controller_.conversation(id);
        menu.addSeparator();
        menu.addAction(tr("&Rename…"), this, [this, id] { renameInteractively(id); });
        QAction* carry = menu.addAction(tr("&Carry Context Between Turns"));
        carry->setCheckable(true);
        carry->setChecked(view && view->carryContext);
        connect(carry, &QAction::toggled, this, [this, id](bool on) { controller_.setCarryContext(id, on); });
        menu.addAction(tr("&Export…"), this, [this, id] { emit exportRequested(id); });
        menu.addSeparator();
        menu.addAction(tr("&Delete…"), this, [this, id] { deleteInteractively(id); });
    }
    menu.exec(list_->viewport()->mapToGlobal(pos));
}

}  // namespace studio
