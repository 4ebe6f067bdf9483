"""``{% planned_result_list cl %}``: Django's ``{% result_list cl %}``, its rows planned once a
page (see ``finetunings.admin.result_rows``); same template, same HTML."""

from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.template import Library

from finetunings.admin import result_rows

register = Library()


@register.tag(name="planned_result_list")
def planned_result_list_tag(parser, token):
    return InclusionAdminNode(
        "planned_result_list",
        parser,
        token,
        func=result_rows.result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )
