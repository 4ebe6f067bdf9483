"""A change list's rows as Django's ``result_list`` tag renders them, planned once a page.

Django's ``items_for_result`` works every cell out afresh: which field or admin method the
column is, its CSS classes, whether it links to the row's page (a ``reverse`` and a parse
of the list's filters per row), and the action checkbox through a widget template. For
the job list's 50 rows of 7 columns that was most of the page's time. Here each column is
worked out once a page and a row only reads its values; the HTML is Django's, byte for
byte. A list the plan does not cover (editable, a popup, a column that is a model property,
``__str__`` or a lookup) is left to Django's own tag.
"""

import datetime
import html
import operator
import types
from collections.abc import Callable
from urllib.parse import quote as url_quote

from django.contrib.admin import helpers
from django.contrib.admin.options import ModelAdmin
from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_field, display_for_value, label_for_field, quote
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils.functional import Promise
from django.utils.safestring import SafeString
from django.utils.translation import gettext

# Stands for a row's primary key in the change URL reversed once a page; quote() and
# reverse() keep it as it is, and no admin path holds it.
PK_SENTINEL = "0ft-row-pk0"
# What reverse() leaves unquoted in a path (RFC 3986's sub-delimiters and pchar extras).
URL_SAFE = "!$&'()*+,;=/~:@"

Cell = Callable[[object], str]


def result_list(cl) -> dict:
    """The ``result_list`` tag's context, its rows rendered by the plan when it covers them."""
    cells = _plan(cl)
    if cells is None:
        return admin_list.result_list(cl)
    headers = list(admin_list.result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": [],
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        # One item per row: the template writes a row's items one after the other.
        "results": [
            admin_list.ResultList(None, [SafeString("".join([cell(row) for cell in cells]))])
            for row in cl.result_list
        ],
    }


def _html(value) -> str:
    """``conditional_escape`` without its lazy-argument wrapper (a cost on every cell)."""
    if isinstance(value, Promise):
        value = str(value)
    return value.__html__() if hasattr(value, "__html__") else html.escape(str(value))


def _plan(cl) -> list[Cell] | None:
    if cl.formset or cl.is_popup or cl.list_display_links is None:
        return None
    model_admin = cl.model_admin
    empty = model_admin.get_empty_value_display()
    cells, first = [], True
    for index, name in enumerate(cl.list_display):
        link = first and not cl.list_display_links or name in cl.list_display_links
        tag = "th" if link and first else "td"
        first = first and not link
        css = "action-checkbox" if name == "action_checkbox" else f"field-{_name(name, index)}"
        if name == "action_checkbox" and not link and _is_djangos_checkbox(model_admin):
            cells.append(_checkbox_cell(f' class="{css}"'))
            continue
        column = _column(cl, name, empty, link)
        wrap = _link_wrap(cl, tag) if link else _td
        if column is None or wrap is None:
            return None  # a model attribute, a lookup, a page without links: Django's
        cells.append(_cell(*column, css, wrap, empty))
    return cells


def _name(name, index) -> str:
    if callable(name):
        return f"lambda{index}" if name.__name__ == "<lambda>" else name.__name__
    return name


def _column(cl, name, empty, link):
    """How a column reads a row's value and shows it, as ``items_for_result`` does."""
    model_admin = cl.model_admin
    _label, attr = label_for_field(name, cl.model, model_admin=model_admin, return_attr=True)
    if attr is None:
        field = cl.model._meta.get_field(name)
        if not field.auto_created:
            return operator.attrgetter(name), _field_shown(field, empty, link)
        return operator.attrgetter(name), _value_shown(empty, False)
    if callable(name) or (name != "__str__" and hasattr(model_admin, name)):
        shown = _value_shown(getattr(attr, "empty_value_display", empty), attr)
        return attr, shown
    return None


def _field_shown(field, empty, link):
    nowrap = isinstance(field, (models.DateField, models.TimeField, models.ForeignKey))
    if isinstance(field.remote_field, models.ManyToOneRel):
        return lambda value: (empty if value is None else value, nowrap)
    return lambda value: (display_for_field(value, field, empty, avoid_link=link), nowrap)


def _value_shown(empty, attr):
    boolean = getattr(attr, "boolean", False)

    def shown(value):
        nowrap = isinstance(value, (datetime.date, datetime.time))
        return display_for_value(value, empty, boolean), nowrap

    return shown


def _cell(get, shown, css, wrap, empty) -> Cell:
    attrs = (f' class="{css}"', f' class="{css} nowrap"')

    def cell(row):
        try:
            value = get(row)
        except ObjectDoesNotExist:
            return wrap(row, attrs[False], _html(empty))
        content, nowrap = shown(value)
        return wrap(row, attrs[nowrap], _html(content))

    return cell


def _td(row, attrs, shown) -> str:
    return f"<td{attrs}>{shown}</td>"


def _link_wrap(cl, tag):
    """The row's link to its change page: the URL reversed once, each row's key put in."""
    try:
        url = cl.url_for_result(types.SimpleNamespace(**{cl.pk_attname: PK_SENTINEL}))
    except NoReverseMatch:
        return None
    url = add_preserved_filters({"preserved_filters": cl.preserved_filters, "opts": cl.opts}, url)
    before, found, after = html.escape(url).partition(PK_SENTINEL)
    if not found:
        return None
    pk_name = cl.pk_attname

    def wrap(row, attrs, shown):
        key = html.escape(url_quote(str(quote(getattr(row, pk_name))), safe=URL_SAFE))
        return f'<{tag}{attrs}><a href="{before}{key}{after}">{shown}</a></{tag}>'

    return wrap


def _is_djangos_checkbox(model_admin) -> bool:
    return type(model_admin).action_checkbox is ModelAdmin.action_checkbox


def _checkbox_cell(attrs) -> Cell:
    """``ModelAdmin.action_checkbox`` without rendering a widget template per row."""
    label = gettext("Select this object for an action - {}")
    start = f'<td{attrs}><input type="checkbox" name="{helpers.ACTION_CHECKBOX_NAME}"'

    def cell(row):
        value = str(row.pk)
        value = f' value="{html.escape(value)}"' if value else ""
        aria = label.format(html.escape(str(row)))
        return f'{start}{value} class="action-select" aria-label="{aria}"></td>'

    return cell
