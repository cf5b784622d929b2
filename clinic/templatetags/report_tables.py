from django import template
from django.utils.formats import localize
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def table_rows(table):
    """A report table's rows as HTML, the first cell of each its header.
    Written here rather than as template loops: a long period's tables run
    to thousands of cells, and the template engine spent most of the
    dashboard's time on them."""
    if not table.rows:
        return format_html(
            '<tr><td colspan="{}" class="text-body-secondary">Nothing in this period.</td></tr>',
            len(table.headers),
        )
    return mark_safe(  # noqa: S308 every value is escaped by format_html
        "\n".join(
            format_html(
                '<tr><th scope="row">{}</th>{}</tr>',
                localize(head),
                format_html_join(
                    "", '<td class="text-end">{}</td>', (("—" if v is None else localize(v),) for v in cells)
                ),
            )
            for head, *cells in table.rows
        )
    )
