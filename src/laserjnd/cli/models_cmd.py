"""``laserjnd models``: a table of every registered model (params, published params, GFLOPs)."""

from __future__ import annotations

from ..utils.size import parse_size


def _fmt_int(n) -> str:
    return "-" if n is None else f"{n:,}"


def models_command(input_size: str | None = None, flops: bool = True) -> None:
    """List every registered model: family, levels, input size, outputs, parameters
    (with the published Keras total and a check mark where they agree) and GFLOPs per frame.

    --input-size HxW builds every model at that size instead of its published one
    (published totals only hold at the published size).
    """
    from rich.console import Console
    from rich.table import Table

    from ..models.info import model_table

    size = parse_size(input_size)
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped output: don't squeeze the table into 80 columns
    with console.status("counting parameters and FLOPs..."):
        rows = model_table(size, flops=flops)
    title = "laserjnd models" + (f" at {size[0]}x{size[1]}" if size else " (published input sizes)")
    table = Table(title=title, caption=None if size is None else "published totals hold at the published sizes only")
    for col, just in (("name", "left"), ("family", "left"), ("levels", "left"), ("input", "right"),
                      ("outputs", "left"), ("params", "right"), ("published", "right")):
        table.add_column(col, justify=just, no_wrap=True)
    if flops:
        table.add_column("GFLOPs/frame", justify="right", no_wrap=True)
    notes = []
    for r in rows:
        if "error" in r:
            table.add_row(r["name"], "[red]failed to build[/red]", *[""] * (len(table.columns) - 2))
            notes.append(f"{r['name']}: {r['error']}")
            continue
        pub = _fmt_int(r["published_params"])
        if r["params_match"]:
            pub += " [green]✓[/green]"
        elif r["params_match"] is False and size is None:
            pub += " [red]✗[/red]"
        params = _fmt_int(r["params"])
        if r["unpublished_params"]:
            params = f"{r['params'] - r['unpublished_params']:,} + {r['unpublished_params']:,}"
        cells = [r["name"], r["family"], ",".join(map(str, r["levels"])) or "-",
                 "x".join(map(str, r["input_size"])), ",".join(r["outputs"]), params, pub]
        if flops:
            cells.append("-" if r["flops"] is None else f"{r['flops'] / 1e9:.2f}")
        table.add_row(*cells)
    console.print(table)
    if any(r.get("unpublished_params") for r in rows):
        console.print("params 'a + b': a = published architecture, b = our unreleased part (MTJND VA tail).")
    for n in notes:
        console.print(f"[red]{n}[/red]")
