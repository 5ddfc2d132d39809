"""AMI lifecycle actions moto 5.2 lacks or gets wrong, from the EC2 API reference:

- DescribeImages `IncludeDisabled`: "A disabled AMI does not appear in DescribeImages API
  calls by default" (DisableImage); with IncludeDisabled=true it does, State "disabled".
  moto has DisableImage/EnableImage (State) but lists disabled AMIs always.
- EnableImageDeregistrationProtection (ImageId, WithCooldown): "When deregistration
  protection is enabled, the AMI can't be deregistered"; DescribeImages shows
  `DeregistrationProtection` "enabled-without-cooldown" or "enabled-with-cooldown".
- DisableImageDeregistrationProtection (ImageId): "When deregistration protection is
  disabled, the AMI can be deregistered. If you chose to include a 24-hour cooldown
  period when you enabled deregistration protection for the AMI, then, when you disable
  deregistration protection, you won't immediately be able to deregister the AMI."
  DescribeImages then shows "disabled".
- DeregisterImage of a protected AMI (or one in its cooldown) fails and changes nothing.

Not modelled (the documentation is silent or it does not matter here): the exact error
code of a refused DeregisterImage (this emulator answers OperationNotPermitted, EC2's code
for the comparable instance termination protection); what DescribeImages shows during a
cooldown (this emulator: "disabled"); a disabled AMI still launches instances here (AWS
refuses launches); launch permissions removed by DisableImage (the emulator has one
account); the cooldown's 24 hours pass in real time (time_scale does not shorten them).
"""

from __future__ import annotations

import time

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.amis import Ami
from moto.ec2.responses.amis import AmisResponse

COOLDOWN_SECONDS = 24 * 3600
ENABLED = "enabled-without-cooldown"
ENABLED_WITH_COOLDOWN = "enabled-with-cooldown"
DISABLED = "disabled"


class OperationNotPermitted(EC2ClientError):
    def __init__(self, message: str):
        super().__init__("OperationNotPermitted", message)


def _flag(value) -> bool:
    return str(value).lower() == "true"


def _image(response, ami_id: str):
    # moto's own lookup raises InvalidAMIID.NotFound / Malformed as AWS does.
    return response.ec2_backend.describe_images(ami_ids=[ami_id])[0]


def deregistration_refusal(image, now: float) -> str | None:
    """Why DeregisterImage must refuse ``image`` at ``now`` (None: it may proceed)."""
    state = getattr(image, "deregistration_protection", DISABLED) or DISABLED
    if state != DISABLED:
        return (f"The image {image.id} has deregistration protection enabled; disable it "
                "with DisableImageDeregistrationProtection first")  # fmt: skip
    until = getattr(image, "golden_protection_cooldown_until", None)
    if until is not None and now < until:
        return (f"The image {image.id} is in its deregistration protection cooldown "
                f"for another {int(until - now)} seconds")  # fmt: skip
    return None


_original_describe_images = AmisResponse.describe_images
_original_deregister_image = AmisResponse.deregister_image


def _describe_images(self) -> ActionResult:
    result = _original_describe_images(self)
    if _flag(self._get_param("IncludeDisabled")):
        return result
    images = [i for i in result.result["Images"] if getattr(i, "state", None) != "disabled"]
    return ActionResult({"Images": images})


def _deregister_image(self) -> ActionResult:
    ami_id = self._get_param("ImageId")
    if ami_id in self.ec2_backend.amis:
        reason = deregistration_refusal(self.ec2_backend.amis[ami_id], time.time())
        if reason:
            raise OperationNotPermitted(reason)
    return _original_deregister_image(self)


def _enable_protection(self) -> ActionResult:
    image = _image(self, self._get_param("ImageId"))
    self.error_on_dryrun()
    with_cooldown = _flag(self._get_param("WithCooldown"))
    image.deregistration_protection = ENABLED_WITH_COOLDOWN if with_cooldown else ENABLED
    image.golden_protection_cooldown_until = None
    return ActionResult({"Return": image.deregistration_protection})


def _disable_protection(self) -> ActionResult:
    image = _image(self, self._get_param("ImageId"))
    self.error_on_dryrun()
    if getattr(image, "deregistration_protection", DISABLED) == ENABLED_WITH_COOLDOWN:
        image.golden_protection_cooldown_until = time.time() + COOLDOWN_SECONDS
    image.deregistration_protection = DISABLED
    return ActionResult({"Return": DISABLED})


def install() -> None:
    # Every AMI reports the field (DescribeImages serializes the attribute by its name).
    Ami.deregistration_protection = DISABLED
    Ami.golden_protection_cooldown_until = None
    AmisResponse.describe_images = _describe_images
    AmisResponse.deregister_image = _deregister_image
    AmisResponse.enable_image_deregistration_protection = _enable_protection
    AmisResponse.disable_image_deregistration_protection = _disable_protection
