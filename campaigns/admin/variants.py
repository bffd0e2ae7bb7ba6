"""A campaign's A/B variants on its page: the inline that edits them, the results panel, the winner pick.

Variants change with the rest of the campaign's content, until it starts; their positions (A, B...)
are given in the order they are listed when saved.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import F
from django.forms.models import BaseInlineFormSet
from django.urls import reverse

from campaigns import variants
from campaigns.models import Campaign, CampaignVariant
from campaigns.models.variant import MOST_VARIANTS, letter
from messaging_site.permissions import model_perm

FEWEST_VARIANTS = 2


class VariantForm(forms.ModelForm):
    class Meta:
        model = CampaignVariant
        fields = ["text", "template", "share"]
        widgets = {"text": forms.Textarea(attrs={"rows": 3, "cols": 50, "class": "variant-text"})}

    def clean_share(self) -> int:
        share = self.cleaned_data["share"]
        if not 1 <= share <= 99:
            raise ValidationError(f"share: {share} is not between 1 and 99 (percent of the recipients).")
        return share


class VariantFormSet(BaseInlineFormSet):
    def full_clean(self) -> None:
        # A post without the variants section at all (a script, an older page) keeps them as they
        # are, rather than failing on the missing management form.
        if self.is_bound and f"{self.prefix}-TOTAL_FORMS" not in self.data:
            self._errors, self._non_form_errors = [], self.error_class()
            return
        super().full_clean()

    def clean(self) -> None:
        super().clean()
        if any(form.errors for form in self.forms):
            return
        live = [form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        if not live:
            return  # no A/B test: the campaign sends its own text
        if not FEWEST_VARIANTS <= len(live) <= MOST_VARIANTS:
            raise ValidationError(
                f"variants: a campaign has {FEWEST_VARIANTS} to {MOST_VARIANTS} variants (or none); {len(live)} given."
            )
        for position, form in enumerate(live, start=1):
            if not (form.cleaned_data.get("text", "").strip() or form.cleaned_data.get("template")):
                form.add_error("text", f"text: variant {letter(position)} needs a text or a template.")
        shares = [form.cleaned_data["share"] for form in live]
        if sum(shares) != 100:
            parts = " + ".join(str(share) for share in shares)
            raise ValidationError(f"share: the split percentages add up to {sum(shares)} ({parts}), not 100.")


class VariantInline(admin.TabularInline):
    model = CampaignVariant
    form = VariantForm
    formset = VariantFormSet
    extra = 0
    max_num = MOST_VARIANTS
    verbose_name = "A/B variant"
    verbose_name_plural = (
        "A/B variants: 2 to 5 versions of the message, each to its share of the recipients (leave empty to "
        "send the text above to everyone)"
    )

    def get_extra(self, request, obj=None, **kwargs) -> int:
        return 0 if obj is not None and obj.variants.exists() else FEWEST_VARIANTS

    def _editable(self, obj) -> bool:
        from campaigns.admin.campaign import editable

        return obj is None or editable(obj)

    # Variants are part of the campaign's content: whoever may write the campaign may write them.
    def _may_write(self, request, obj) -> bool:
        return self._editable(obj) and request.user.has_perm(model_perm(Campaign, "change" if obj else "add"))

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(model_perm(Campaign, "view")) or self._may_write(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return self._may_write(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may_write(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may_write(request, obj)


def save_variants(formset) -> None:
    """Save the inline's variants, numbered A, B... in the order listed (positions are moved out of
    the way first, so a reordering never meets the one-per-position rule half-way)."""
    formset.save(commit=False)
    for gone in formset.deleted_objects:
        gone.delete()
    listed = [
        form.instance
        for form in formset.forms
        if form.cleaned_data and not form.cleaned_data.get("DELETE") and (form.instance.pk or form.has_changed())
    ]
    campaign = formset.instance
    CampaignVariant.objects.filter(campaign=campaign).update(position=F("position") + 100)
    for position, variant in enumerate(listed, start=1):
        variant.campaign, variant.position = campaign, position
        variant.save()


def variants_context(request, campaign: Campaign, may_change: bool) -> dict:
    """The page's A/B panel: the figures per variant, the chance notes, and the winner step."""
    if not campaign.variants.exists():
        return {}
    found = variants.results(campaign)
    test_pending = campaign.test_share is not None and campaign.winner is None
    may_pick = may_change and test_pending and campaign.winner_due_at is not None
    return {
        "ab": found,
        "ab_winner": letter(campaign.winner),
        "ab_pick_url": reverse("admin:campaigns_campaign_pick_winner", args=[campaign.pk]) if may_pick else "",
        "ab_waiting": found.waiting_for_winner,
        # Before the winner only the test's rows have a variant: how many the draw put in the test.
        "ab_tested": sum(variant.recipients for variant in found.variants) if test_pending else None,
    }
