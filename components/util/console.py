"""The console printer of fgen's CLIs: wasabi's icons and colours, but no line wrapping,
so every error stays on one line that names the file and the reason."""
import sys
from typing import Any, Optional, Union

from wasabi import Printer
from wasabi.util import color as colorize


class OneLinePrinter(Printer):
    def text(
        self,
        title: Any = "",
        text: Any = "",
        color: Optional[Union[str, int]] = None,
        bg_color: Optional[Union[str, int]] = None,
        icon: Optional[str] = None,
        spaced: bool = False,
        show: bool = True,
        no_print: bool = False,
        exits: Optional[int] = None,
    ) -> None:
        """Print `title` (and `text` on the next line) unwrapped; exit with `exits` if given."""
        if not show:
            return
        line = str(title)
        if self.pretty:
            mark = self.icons.get(icon) if icon else None
            line = f"{mark} {line}" if mark else line
            if self.show_color:
                line = colorize(line, fg=self.colors.get(color, color), bg=self.colors.get(bg_color, bg_color))
        if text:
            line = f"{line}\n{text}"
        if not (self.no_print or no_print):
            print(line)
        if exits is not None:
            sys.stdout.flush()
            sys.exit(exits)


msg = OneLinePrinter()
