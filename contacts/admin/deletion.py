"""Delete pages that count what a deletion touches instead of loading it, and refuse where history would go.

Django's delete page, and its "Delete selected" action, collect every related row into memory to
list it, each with its parent loaded beside it: a bulk job's 10,000 messages, each carrying a copy
of the job's 10,000 inline recipients, took a server past 20 GB. BoundedDeletion walks the same
relations Django's collector walks (each foreign key's on_delete), but asks the database one
capped COUNT per relation, so the page costs the same for one related row and for a million.

Deletion is refused, with the reason named, where a relation protects the rows (a channel's
messages) or where a layer above says so: layers above register rules with ``refuse_deletion``
(campaigns refuses a list that a scheduled campaign sends to; contacts cannot know campaigns).
The "Delete selected" action is replaced too: it shows counts and a few names, keeps a "select
all" selection as a selection (not a million hidden ids), and deletes in chunks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import models, router, transaction
from django.db.models import CASCADE, DO_NOTHING, PROTECT, RESTRICT, QuerySet
from django.db.models.deletion import get_candidate_relations_to_delete
from django.template.response import TemplateResponse
from django.utils.text import capfirst

# Related rows are counted up to this many; above it the page says "more than".
COUNT_CAP = 1_000_000
# Names shown before "and N more".
SHOWN = 5
# Rows deleted per statement by "Delete selected" (each chunk's log entries are built in memory).
CHUNK = 1_000
# How far the walk follows cascades (a contact import's rejections are one level below it).
DEPTH = 3

RefusalRule = Callable[[QuerySet], list[str]]
_refusal_rules: dict[type[models.Model], list[RefusalRule]] = defaultdict(list)


def refuse_deletion(model: type[models.Model]) -> Callable[[RefusalRule], RefusalRule]:
    """Register a rule: given the rows about to be deleted, the reasons they may not be (empty: they may)."""

    def register(rule: RefusalRule) -> RefusalRule:
        _refusal_rules[model._meta.concrete_model].append(rule)
        return rule

    return register


def refusals(queryset: QuerySet) -> list[str]:
    """Every registered rule's reasons for the rows of ``queryset`` (handed over plain: no joins, no order)."""
    rows = queryset.model._base_manager.using(queryset.db).filter(pk__in=queryset.order_by().values("pk"))
    return [reason for rule in _refusal_rules[queryset.model._meta.concrete_model] for reason in rule(rows)]


def capped_count(queryset: QuerySet, cap: int = COUNT_CAP) -> int:
    """COUNT(*) that stops at ``cap`` + 1 rows: a bounded cost however many there are."""
    return queryset.order_by()[: cap + 1].count()


def amount(count: int, cap: int = COUNT_CAP) -> str:
    return f"more than {cap:,}" if count > cap else f"{count:,}"


def names_and_more(names: list[str], total: int) -> str:
    """'A, B and C', or 'A, B, C, D, E and 12 more' when ``total`` exceeds the names given."""
    rest = total - len(names)
    if rest > 0:
        return f"{', '.join(names)} and {rest:,} more"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


@dataclass(frozen=True)
class Effect:
    """What deleting does to the rows of one relation: deleted too, kept unlinked, or blocking it."""

    relation: models.ForeignObjectRel
    count: int
    depth: int = 0

    @property
    def on_delete(self):
        return self.relation.field.remote_field.on_delete

    @property
    def blocks(self) -> bool:
        return self.on_delete in (PROTECT, RESTRICT)

    @property
    def deletes(self) -> bool:
        return self.on_delete is CASCADE

    def words(self) -> str:
        """One line of the page, in the words of the models: 'Contacts in it: 12,345 (...)'."""
        related = self.relation.related_model._meta
        many = amount(self.count)
        link = many_to_many_of(self.relation.related_model)
        if link is not None:
            return link_words(link, self.relation, many)
        if self.blocks:
            return f"{capfirst(related.verbose_name_plural)}: {many} (they refer to it and are kept)"
        if self.deletes:
            return f"{capfirst(related.verbose_name_plural)}: {many} (deleted with it)"
        return f"{capfirst(related.verbose_name_plural)}: {many} (kept, no longer linked to it)"


def many_to_many_of(through: type[models.Model]) -> models.ManyToManyField | None:
    """The many-to-many field whose link table ``through`` is, if it is one."""
    for model in {through._meta.auto_created, *(f.related_model for f in through._meta.fields if f.is_relation)}:
        if not model:
            continue
        for field in model._meta.many_to_many:
            if field.remote_field.through is through:
                return field
    return None


def link_words(field: models.ManyToManyField, relation: models.ForeignObjectRel, many: str) -> str:
    """A link table's rows said from the deleted side: both ends stay, only the links go."""
    owner, target = field.model._meta, field.related_model._meta
    if relation.field.related_model is field.model:  # deleting the side that declares the field
        where = f"in its “{field.verbose_name}”" if field.verbose_name != target.verbose_name_plural else "in it"
        return f"{capfirst(target.verbose_name_plural)} {where}: {many} (they stay, taken out of it)"
    owners = capfirst(owner.verbose_name_plural)
    return f"{owners} that have it in “{field.verbose_name}”: {many} (they stay, it is taken out of them)"


def effects(queryset: QuerySet, depth: int = 0) -> list[Effect]:
    """What deleting the rows of ``queryset`` does to every related row, one capped COUNT per relation."""
    found = []
    for relation in get_candidate_relations_to_delete(queryset.model._meta.concrete_model._meta):
        if relation.field.remote_field.on_delete is DO_NOTHING:
            continue
        rows = relation.related_model._base_manager.using(queryset.db).filter(
            **{f"{relation.field.name}__in": queryset.order_by().values("pk")}
        )
        count = capped_count(rows)
        if not count:
            continue
        effect = Effect(relation, count, depth)
        found.append(effect)
        if effect.deletes and depth + 1 < DEPTH:
            found.extend(effects(rows, depth + 1))
    return found


def blocking_reasons(found: Iterable[Effect]) -> list[str]:
    """Protected rows that stop the deletion, for models without a rule of their own."""
    return [
        f"{amount(e.count)} {e.relation.related_model._meta.verbose_name_plural} refer to it "
        f"(“{e.relation.field.verbose_name}”) and would be lost with it."
        for e in found
        if e.blocks
    ]


def as_queryset(model_admin: admin.ModelAdmin, objs) -> QuerySet:
    """The objects Django hands get_deleted_objects (a list of one, or the action's queryset) as a queryset."""
    if isinstance(objs, QuerySet):
        return objs
    return model_admin.model._base_manager.filter(pk__in=[obj.pk for obj in objs])


def missing_permissions(model_admin: admin.ModelAdmin, request, found: Iterable[Effect]) -> set[str]:
    """Models deleted with it that this user may not delete (Django asks the same of registered models)."""
    site = model_admin.admin_site
    return {
        str(e.relation.related_model._meta.verbose_name)
        for e in found
        if e.deletes
        and site.is_registered(e.relation.related_model)
        and not site.get_model_admin(e.relation.related_model).has_delete_permission(request)
    }


class BoundedDeletion:
    """ModelAdmin mixin: delete pages and "Delete selected" that count related rows and name refusals."""

    delete_confirmation_template = "admin/bounded/delete_confirmation.html"
    delete_selected_confirmation_template = "admin/bounded/delete_selected_confirmation.html"

    def get_deleted_objects(self, objs, request):
        """Django's 4-tuple, bounded: effect lines (not rows), counts, missing permissions, refusals."""
        queryset = as_queryset(self, objs)
        found = effects(queryset)
        refused = refusals(queryset) or blocking_reasons(found)
        lines = [e.words() for e in found if e.depth == 0]
        model_count = {self.model._meta.verbose_name_plural: capped_count(queryset)}
        model_count.update({e.relation.related_model._meta.verbose_name_plural: e.count for e in found if e.deletes})
        return lines, model_count, missing_permissions(self, request, found), refused

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:  # Django's loads every selected row and its relations
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (delete_selected, name, description)
        return actions


@admin.action(permissions=["delete"], description="Delete selected %(verbose_name_plural)s")
def delete_selected(model_admin: admin.ModelAdmin, request, queryset: QuerySet) -> TemplateResponse | None:
    """Django's "Delete selected", with counts instead of rows and a deletion in chunks."""
    lines, _, perms_needed, refused = model_admin.get_deleted_objects(queryset, request)
    if request.POST.get("post") and not refused:
        if perms_needed:
            raise PermissionDenied
        deleted = delete_in_chunks(model_admin, request, queryset)
        noun = model_admin.opts.verbose_name if deleted == 1 else model_admin.opts.verbose_name_plural
        model_admin.message_user(request, f"Deleted {deleted:,} {noun}.", messages.SUCCESS)
        return None
    return confirmation_page(model_admin, request, queryset, lines=lines, perms_needed=perms_needed, refused=refused)


def delete_in_chunks(model_admin: admin.ModelAdmin, request, queryset: QuerySet) -> int:
    """Log and delete the selection CHUNK rows at a time, in one transaction (all or nothing)."""
    deleted, last = 0, None
    with transaction.atomic(using=router.db_for_write(model_admin.model)):
        while True:
            remaining = queryset.order_by("pk") if last is None else queryset.filter(pk__gt=last).order_by("pk")
            chunk = list(remaining.values_list("pk", flat=True)[:CHUNK])
            if not chunk:
                return deleted
            rows = model_admin.get_queryset(request).filter(pk__in=chunk)  # its deferred columns too
            model_admin.log_deletions(request, rows)
            model_admin.delete_queryset(request, rows)
            deleted, last = deleted + len(chunk), chunk[-1]


def confirmation_page(model_admin, request, queryset, *, lines, perms_needed, refused) -> TemplateResponse:
    opts = model_admin.opts
    total = capped_count(queryset)
    names = [str(obj) for obj in queryset[:SHOWN]]
    plural = opts.verbose_name if total == 1 else opts.verbose_name_plural
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Cannot delete these {opts.verbose_name_plural}" if refused or perms_needed else f"Delete {plural}?",
        "subtitle": None,
        "objects_name": str(plural),
        "count": amount(total),
        "names": names_and_more([f"“{name}”" for name in names], total) if names else "",
        "deleted_objects": lines,
        "perms_lacking": perms_needed,
        "protected": refused,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across") == "1",
        "opts": opts,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": model_admin.media,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, model_admin.delete_selected_confirmation_template, context)
