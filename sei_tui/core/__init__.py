"""The core: plain functions over plain data. Never imports Textual.

model -> split points -> costs & saliency -> scenario simulation -> evaluation
-> recommendation -> views (the CLI and the TUI are thin clients of this package).
"""
