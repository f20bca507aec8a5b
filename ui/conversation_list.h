#pragma once
// The conversation list on the left: search filter, New/Rename/Delete buttons and a context menu. It shows the
// Controller's conversations; every change goes through the Controller.
#include <QWidget>

#include "app/controller.h"

class QLineEdit;
class QListWidget;
class QListWidgetItem;
class QToolButton;

namespace studio {

class ConversationList : public QWidget {
    Q_OBJECT
public:
    ConversationList(Controller& controller, QWidget* parent = nullptr);

    QString currentId() const;
    void setCurrentId(const QString& id);
    QListWidget* listWidget() const { return list_; }
    QLineEdit* searchField() const { return search_; }
    // Asks for a new title (QInputDialog) and renames.
    void renameInteractively(const QString& id);
    // Asks for confirmation and deletes.
    void deleteInteractively(const QString& id);

signals:
    void currentChanged(const QString& id);
    void newRequested();
    void exportRequested(const QString& id);

private:
    void addItem(const QString& id);
    QListWidgetItem* item(const QString& id) const;
    void refreshItem(const QString& id);
    void applyFilter();
    void showMenu(const QPoint& pos);

    Controller& controller_;
    QLineEdit* search_;
    QListWidget* list_;
    QToolButton* rename_;
    QToolButton* delete_;
};

}  // namespace studio
