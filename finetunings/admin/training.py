"""The training part of the admin's job page: progress, ETA, elapsed time, model ids, the loss
chart and the checkpoints.

Rendered on the server (the chart is an inline SVG), so nothing loads from elsewhere.
"""

from django.utils import timezone
from django.utils.html import format_html, format_html_join

from finetunings import selectors

CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 640, 220, 36
CHART_POINTS = 200
LINE_COLOURS = {"train": "#2563eb", "valid": "#d97706"}
LINE_LABELS = {"train": "training loss", "valid": "validation loss"}


def progress_html(finetuning) -> str:
    progress = selectors.finetuning_progress(finetuning)
    if progress is None:
        return "No step reported yet."
    percent = progress["percent"]
    total = progress["total_steps"] or "?"
    bar = ""
    if percent is not None:
        shown = f"{percent:g}"
        bar = format_html(
            '<progress class="ft-progress" max="100" value="{}">{} %</progress> '
            '<strong class="ft-percent">{} %</strong> ',
            percent,
            shown,
            shown,
        )
    return format_html("{}step {} of {}", bar, progress["step"], total)


def eta_html(finetuning) -> str:
    if finetuning.estimated_finish is None:
        return "-"
    if not finetuning.is_active:
        return format_html("{} (the last estimate)", _when(finetuning.estimated_finish))
    return _when(finetuning.estimated_finish)


def elapsed_html(finetuning) -> str:
    """How long the job has taken since it was stored: so far, or in all once it ended."""
    if finetuning.finished_at is not None:
        return f"{duration(finetuning.finished_at - finetuning.created_at)} (finished)"
    if not finetuning.is_active:
        return "-"
    return f"{duration(timezone.now() - finetuning.created_at)} so far"


def duration(delta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def _when(moment) -> str:
    local = timezone.localtime(moment)
    left = moment - timezone.now()
    if left.total_seconds() > 0:
        return f"{local:%Y-%m-%d %H:%M} (in {duration(left)})"
    return f"{local:%Y-%m-%d %H:%M}"


def model_id_html(model_id: str | None) -> str:
    if not model_id:
        return "-"
    return format_html(
        '<code class="ft-model-id">{}</code> '
        '<button type="button" class="ft-copy" data-copy="{}">Copy</button>',
        model_id,
        model_id,
    )


def loss_chart_html(finetuning) -> str:
    series = selectors.finetuning_metrics_downsampled(finetuning=finetuning, points=CHART_POINTS)
    lines = {
        "train": [(m.step, m.train_loss) for m in series if m.train_loss is not None],
        "valid": [(m.step, m.valid_loss) for m in series if m.valid_loss is not None],
    }
    lines = {name: line for name, line in lines.items() if line}
    if not lines:
        return "No loss reported yet."
    scale = _ChartScale([point for line in lines.values() for point in line])
    polylines = format_html_join(
        "",
        '<polyline class="ft-loss-{}" fill="none" stroke="{}" stroke-width="2" points="{}">'
        "<title>{}</title></polyline>",
        (
            (name, LINE_COLOURS[name], scale.points(line), LINE_LABELS[name])
            for name, line in lines.items()
        ),
    )
    return format_html(
        '<svg class="ft-loss-chart" role="img" aria-label="Loss by step" width="{}" '
        'height="{}" viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg">{}{}{}</svg>',
        CHART_WIDTH,
        CHART_HEIGHT,
        CHART_WIDTH,
        CHART_HEIGHT,
        _legend(lines),
        scale.axes(),
        polylines,
    )


class _ChartScale:
    """Maps (step, loss) onto the chart: steps left to right, the lowest loss at the bottom."""

    def __init__(self, points):
        steps = [step for step, _ in points]
        losses = [loss for _, loss in points]
        self.low_step, self.high_step = min(steps), max(steps)
        self.low, self.high = min(losses), max(losses)

    def x(self, step) -> float:
        inner = CHART_WIDTH - 2 * CHART_MARGIN
        return CHART_MARGIN + inner * (
            (step - self.low_step) / ((self.high_step - self.low_step) or 1)
        )

    def y(self, loss) -> float:
        inner = CHART_HEIGHT - 2 * CHART_MARGIN
        return CHART_MARGIN + inner * (1 - (loss - self.low) / ((self.high - self.low) or 1))

    def points(self, line) -> str:
        return " ".join(f"{self.x(step):.1f},{self.y(loss):.1f}" for step, loss in line)

    def axes(self) -> str:
        return format_html(
            '<line x1="{m}" y1="{b}" x2="{r}" y2="{b}" stroke="#888"/>'
            '<line x1="{m}" y1="{m}" x2="{m}" y2="{b}" stroke="#888"/>'
            '<text x="{m}" y="{t}" font-size="11">step {s0}</text>'
            '<text x="{r}" y="{t}" font-size="11" text-anchor="end">step {s1}</text>'
            '<text x="2" y="{m}" font-size="11">{hi}</text>'
            '<text x="2" y="{b}" font-size="11">{lo}</text>',
            m=CHART_MARGIN,
            b=CHART_HEIGHT - CHART_MARGIN,
            r=CHART_WIDTH - CHART_MARGIN,
            t=CHART_HEIGHT - CHART_MARGIN + 16,
            s0=self.low_step,
            s1=self.high_step,
            hi=f"{self.high:.3g}",
            lo=f"{self.low:.3g}",
        )


def _legend(lines) -> str:
    return format_html_join(
        "",
        '<text x="{}" y="16" font-size="12" fill="{}">{}</text>',
        (
            (CHART_MARGIN + 110 * index, LINE_COLOURS[name], LINE_LABELS[name])
            for index, name in enumerate(lines)
        ),
    )


def checkpoints_html(finetuning) -> str:
    checkpoints = list(selectors.finetuning_checkpoint_list(finetuning=finetuning))
    if not checkpoints:
        return "None yet."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                checkpoint.step,
                model_id_html(checkpoint.model_id),
                _loss(checkpoint.metrics.get("train_loss")),
                _loss(checkpoint.metrics.get("valid_loss")),
            )
            for checkpoint in checkpoints
        ),
    )
    return format_html(
        '<table class="ft-checkpoints"><thead><tr><th>step</th><th>model id</th>'
        "<th>training loss</th><th>validation loss</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


def _loss(value) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"
