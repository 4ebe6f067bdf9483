"""The training part of the admin's job page: progress, ETA, model id, loss chart, checkpoints.

Rendered on the server (the chart is an inline SVG), so nothing loads from elsewhere.
"""

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from finetunings import selectors

CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 640, 220, 36
CHART_POINTS = 200


def progress_html(finetuning) -> str:
    progress = selectors.finetuning_progress(finetuning)
    if progress is None:
        return "No step reported yet."
    percent = progress["percent"]
    total = progress["total_steps"] or "?"
    bar = ""
    if percent is not None:
        bar = format_html(
            '<progress class="ft-progress" max="100" value="{}">{} %</progress> '
            '<strong class="ft-percent">{} %</strong> ',
            percent,
            percent,
            percent,
        )
    return format_html("{}step {} of {}", bar, progress["step"], total)


def eta_html(finetuning) -> str:
    if finetuning.estimated_finish is None:
        return "-"
    if not finetuning.is_active:
        return format_html("{} (the last estimate)", _when(finetuning.estimated_finish))
    return _when(finetuning.estimated_finish)


def _when(moment) -> str:
    local = timezone.localtime(moment)
    left = moment - timezone.now()
    if left.total_seconds() > 0:
        minutes = int(left.total_seconds() // 60)
        return f"{local:%Y-%m-%d %H:%M} (in {minutes // 60} h {minutes % 60} min)"
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
    values = [point for line in lines.values() for point in line]
    if not values:
        return "No loss reported yet."
    steps = [step for step, _ in values]
    losses = [loss for _, loss in values]
    low_step, high_step = min(steps), max(steps)
    low, high = min(losses), max(losses)
    inner_w = CHART_WIDTH - 2 * CHART_MARGIN
    inner_h = CHART_HEIGHT - 2 * CHART_MARGIN

    def x(step):
        return CHART_MARGIN + inner_w * ((step - low_step) / ((high_step - low_step) or 1))

    def y(loss):
        return CHART_MARGIN + inner_h * (1 - (loss - low) / ((high - low) or 1))

    polylines = format_html_join(
        "",
        '<polyline class="ft-loss-{}" fill="none" stroke="{}" stroke-width="2" points="{}">'
        "<title>{} loss</title></polyline>",
        (
            (
                name,
                "#2563eb" if name == "train" else "#d97706",
                " ".join(f"{x(step):.1f},{y(loss):.1f}" for step, loss in line),
                name,
            )
            for name, line in lines.items()
            if line
        ),
    )
    axes = format_html(
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
        s0=low_step,
        s1=high_step,
        hi=f"{high:.3g}",
        lo=f"{low:.3g}",
    )
    legend = format_html(
        '<text x="{}" y="16" font-size="12" fill="#2563eb">training loss</text>{}',
        CHART_MARGIN,
        mark_safe(
            f'<text x="{CHART_MARGIN + 110}" y="16" font-size="12" fill="#d97706">'
            "validation loss</text>"
        )
        if lines["valid"]
        else "",
    )
    return format_html(
        '<svg class="ft-loss-chart" role="img" aria-label="Loss by step" width="{}" '
        'height="{}" viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg">{}{}{}</svg>',
        CHART_WIDTH,
        CHART_HEIGHT,
        CHART_WIDTH,
        CHART_HEIGHT,
        legend,
        axes,
        polylines,
    )


def checkpoints_html(finetuning) -> str:
    checkpoints = list(selectors.finetuning_checkpoint_list(finetuning=finetuning))
    if not checkpoints:
        return "None yet."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                checkpoint.step,
                model_id_html(checkpoint.model_id),
                _loss(checkpoint.metrics.get("train_loss")),
            )
            for checkpoint in checkpoints
        ),
    )
    return format_html(
        '<table class="ft-checkpoints"><thead><tr><th>step</th><th>model id</th>'
        "<th>training loss</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


def _loss(value) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"
